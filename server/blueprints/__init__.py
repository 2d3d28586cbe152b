"""One blueprint per audience: petitioners (public), bureaus, auditors (log), operators (admin)."""
