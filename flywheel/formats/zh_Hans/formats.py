# Django's Simplified Chinese formats, with seconds where we show them, and thousands grouped by
# commas (12,345) as Chinese software shows counts, where Django's default groups nothing.
DATETIME_FORMAT = "Y年n月j日 H:i:s"
SHORT_DATETIME_FORMAT = "Y年n月j日 H:i"
SHORT_DATE_FORMAT = "Y年n月j日"
TIME_FORMAT = "H:i:s"
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
