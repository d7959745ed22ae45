"""Coverage: blind spots, staffing gaps, caseloads, new sites, service reach."""
