print("concept-bench")
