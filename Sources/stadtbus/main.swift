print("stadtbus")
