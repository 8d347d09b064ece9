"""Small helpers that single lessons use (one module per lesson, ``lessonNN``)."""
