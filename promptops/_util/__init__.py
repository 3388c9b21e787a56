"""Small shared helpers with no domain knowledge: formatting, files, secrets, lazy imports."""
