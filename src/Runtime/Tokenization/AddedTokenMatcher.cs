namespace LongLM.Runtime.Tokenization;

/// <summary>A stretch of input: plain text for BPE, or one matched added token.</summary>
/// <param name="Start">First char.</param>
/// <param name="Length">Char count (for a token, including whitespace its lstrip/rstrip swallowed).</param>
/// <param name="Token">The matched token, or null for plain text.</param>
internal readonly record struct TextSegment(int Start, int Length, AddedToken? Token);

/// <summary>
/// Finds added tokens in text the way HF's <c>AddedVocabulary</c> does: leftmost-longest matches, then the
/// token's single_word, lstrip and rstrip rules.
/// </summary>
internal sealed class AddedTokenMatcher
{
    private readonly Dictionary<char, AddedToken[]> _byFirstChar;

    public AddedTokenMatcher(IEnumerable<AddedToken> tokens)
    {
        _byFirstChar = tokens
            .Where(t => t.Content.Length > 0)
            .GroupBy(t => t.Content[0])
            .ToDictionary(g => g.Key, g => g.OrderByDescending(t => t.Content.Length).ToArray());
    }

    public bool IsEmpty => _byFirstChar.Count == 0;

    /// <summary>Appends the segments of <paramref name="text"/> to <paramref name="segments"/>, in order.</summary>
    public void Split(string text, List<TextSegment> segments)
    {
        int plainStart = 0;
        int i = 0;
        while (i < text.Length)
        {
            var token = LongestMatchAt(text, i);
            if (token is null)
            {
                i++;
                continue;
            }

            int start = i, end = i + token.Content.Length;
            if (token.LStrip)
            {
                while (start > plainStart && char.IsWhiteSpace(text[start - 1]))
                {
                    start--;
                }
            }

            if (token.RStrip)
            {
                while (end < text.Length && char.IsWhiteSpace(text[end]))
                {
                    end++;
                }
            }

            if (start > plainStart)
            {
                segments.Add(new TextSegment(plainStart, start - plainStart, null));
            }

            segments.Add(new TextSegment(start, end - start, token));
            plainStart = i = end;
        }

        if (plainStart < text.Length)
        {
            segments.Add(new TextSegment(plainStart, text.Length - plainStart, null));
        }
    }

    private AddedToken? LongestMatchAt(string text, int i)
    {
        if (!_byFirstChar.TryGetValue(text[i], out var candidates))
        {
            return null;
        }

        foreach (var token in candidates)
        {
            if (!text.AsSpan(i).StartsWith(token.Content, StringComparison.Ordinal))
            {
                continue;
            }

            // Leftmost-longest picks one match here; a single_word token inside a word is then dropped.
            return !token.SingleWord || IsStandalone(text, i, i + token.Content.Length) ? token : null;
        }

        return null;
    }

    private static bool IsStandalone(string text, int start, int end) =>
        (start == 0 || !IsWordChar(text[start - 1])) && (end == text.Length || !IsWordChar(text[end]));

    private static bool IsWordChar(char c) => char.IsLetterOrDigit(c) || c == '_';
}
