namespace LongLM.Runtime.Inference;

/// <summary>
/// Finds stop strings in streamed text that arrives in pieces cut at token boundaries: text that could still be the
/// start of a stop string is held back, so nothing at or after a stop string is ever emitted (a stop string split
/// over several tokens, or starting in the middle of one, is found as well).
/// </summary>
/// <remarks>One matcher per generation; not thread-safe. Held-back text is at most the longest stop string.</remarks>
public sealed class StopSequenceMatcher
{
    private readonly string[] _stops;
    private readonly System.Text.StringBuilder _held = new();

    /// <summary>A matcher for <paramref name="stops"/> (none: every piece passes through at once).</summary>
    public StopSequenceMatcher(IReadOnlyList<string> stops)
    {
        _stops = [.. stops];
    }

    /// <summary>The stop string that ended the text, or null while none has been seen.</summary>
    public string? Matched { get; private set; }

    /// <summary>
    /// Adds <paramref name="piece"/> and returns the text that can be emitted now: everything before a stop string
    /// once one is complete (then <see cref="Matched"/> is set and later pieces are ignored), else everything but the
    /// longest tail that is a proper prefix of some stop string.
    /// </summary>
    public string Push(string piece)
    {
        if (Matched is not null) return "";
        if (_stops.Length == 0) return piece;
        _held.Append(piece);
        string text = _held.ToString();
        int first = -1;
        foreach (var stop in _stops)
        {
            int at = text.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (first < 0 || at < first))
            {
                first = at;
                Matched = stop;
            }
        }
        if (first >= 0)
        {
            _held.Clear();
            return text[..first];
        }
        int keep = 0;
        foreach (var stop in _stops)
        {
            for (int n = Math.Min(stop.Length - 1, text.Length); n > keep; n--)
            {
                if (text.AsSpan(text.Length - n).SequenceEqual(stop.AsSpan(0, n)))
                {
                    keep = n;
                    break;
                }
            }
        }
        _held.Clear();
        _held.Append(text, text.Length - keep, keep);
        return text[..^keep];
    }

    /// <summary>Ends the text: returns what was held back (nothing after a match).</summary>
    public string Flush()
    {
        if (Matched is not null) return "";
        string rest = _held.ToString();
        _held.Clear();
        return rest;
    }
}
