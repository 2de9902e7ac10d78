"""ECR lifecycle policies: the policy document (`policy`), the pure rule evaluator
(`evaluate`) and the job that applies a policy to a repository (`runner`)."""
