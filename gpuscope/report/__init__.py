"""``gpuscope report``: bench, sweep and record files made into one document to share."""
