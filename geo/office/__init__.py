"""The office: accounts, sessions and login throttling, generated secrets, the demo logins."""
