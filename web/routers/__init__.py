"""One router module per audience or resource."""
