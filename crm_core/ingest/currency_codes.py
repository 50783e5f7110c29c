"""ISO 4217 currency codes: the only three-letter words an amount may carry as its currency.

A three-letter word beside a number (``EUR 12.50``, ``12,50 chf``) is a currency only when it is one of
these codes; any other word (``12.50 pcs``, ``abc``) makes the value unreadable, never a currency.
"""
from __future__ import annotations

#: Active ISO 4217 codes of money (list one, 2024), without funds codes, precious metals,
#: the test code XTS and the "no currency" code XXX.
ISO_4217: frozenset[str] = frozenset("""
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF
CHF CLP CNY COP CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD
HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL
LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR
PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND
TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG ZWL
""".split())

#: Codes whose currency has no minor unit (ISO 4217 exponent 0): an amount in one of them is a whole number, so
#: ``1,234`` or ``1.234`` written in it can only be 1,234 (checks.whole_amounts).
ZERO_DECIMAL: frozenset[str] = frozenset("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split())

#: Dollar signs with a country prefix (``R$ 3,10`` is Brazilian reals, not US dollars).
PREFIXED_DOLLARS: dict[str, str] = {
    "$": "USD", "US$": "USD", "U$": "USD", "R$": "BRL", "C$": "CAD", "CA$": "CAD", "A$": "AUD", "AU$": "AUD",
    "NZ$": "NZD", "HK$": "HKD", "S$": "SGD", "MX$": "MXN", "NT$": "TWD",
}

#: Currency symbols read as one code (``¥`` is taken for yen).
SYMBOLS: dict[str, str] = {"€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR", **PREFIXED_DOLLARS}

#: A regex alternation of the codes, case-insensitive (``eur`` is EUR).
CODE_PATTERN = "(?i:" + "|".join(sorted(ISO_4217)) + ")"
