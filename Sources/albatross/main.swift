print("albatross")
