# Theme catalogue models arrive with the themes issue.
