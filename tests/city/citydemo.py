"""What the city tests share (imported as ``citydemo``, the way pytest puts this folder
on the path)."""

import datetime as dt

CITY = "510400"
COUNTIES = ("510402", "510403", "510411", "510421", "510422")
CITY_SCALE = 0.02
CITY_TODAY = dt.date(2026, 11, 24)
PASSWORD = "city-test-password-1"
