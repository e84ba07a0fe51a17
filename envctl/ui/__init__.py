"""What envctl prints: terminal output (Rich), live views of runs, and CI output (GitHub
workflow commands, the job summary). Everything below ``ui`` returns values."""
