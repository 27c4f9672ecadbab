"""PII scrubbing: presidio recognizers behind a fast prefilter, an audit, a leak scan.

- `pile.pii.scrub.PiiScrubber`: the ``pii_v1`` stage (placeholders, counts, audit spans);
- `pile.pii.leaks.scan_for_leaks`: the validate-time scan for cards and e-mail addresses;
- `pile.pii.recognizers`: the offline presidio set-up; `pile.pii.prefilter`: the gate;
- `pile.pii.validators`: Luhn, card issuer ranges, public IP ranges, ISBN checksums;
- the planted-PII evaluation set lives with its benchmark (`benchmarks/pii_evalset.py`).
"""
