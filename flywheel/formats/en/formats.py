# Django's English formats are American (12/06/2026 2:05 p.m.); ours are ISO-like and 24-hour.
DATETIME_FORMAT = "Y-m-d H:i:s"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i:s"
