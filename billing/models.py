# Subscription billing models arrive with the billing issue.
