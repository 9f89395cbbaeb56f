"""The notebook sandbox: a Landlock binding, ``seal(policy)`` and the kernel launcher (standard library only)."""
