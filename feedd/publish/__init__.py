"""Sites beyond the server: written into a folder, kept in step live, announced to WebSub hubs."""
