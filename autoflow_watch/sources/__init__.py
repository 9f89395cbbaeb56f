"""Sources record facts ("dataset D has data for date X"); they never start runs themselves."""
