"""The service's web pages: signing in and approving device logins."""
