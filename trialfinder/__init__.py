"""trialfinder: find ClinicalTrials.gov trials a patient may qualify for, with reasons."""

__version__ = "0.1.0"
