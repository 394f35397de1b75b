"""Read side of the ledger: every SQL the API runs lives in these modules."""
