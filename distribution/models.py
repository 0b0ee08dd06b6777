# Distribution engine models arrive with the distribution issue.
