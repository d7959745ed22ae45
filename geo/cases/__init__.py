"""The case loop: discovery reports and escalation, case state, assessments, guardians,
supports, referrals.
"""
