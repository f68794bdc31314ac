"""The marketing sync: the backend interface, Mailchimp, and the contacts kept in step both ways."""
