using System.Text.RegularExpressions;

namespace LongLM.Runtime.Tokenization;

/// <summary>
/// A tokenizer.json "pre_tokenizer" made of Split (behavior Isolated) and ByteLevel steps: it cuts text into
/// the words that BPE merges within. Each step applies to every piece the previous steps produced.
/// </summary>
/// <remarks>
/// Written here rather than with Microsoft.ML.Tokenizers' RegexPreTokenizer because that one drops the text
/// between matches, where HF's Isolated keeps it as pieces of its own.
/// </remarks>
internal sealed class PreTokenizerPipeline
{
    private readonly IReadOnlyList<Step> _steps;

    private PreTokenizerPipeline(IReadOnlyList<Step> steps)
    {
        _steps = steps;
    }

    /// <summary>A step of the pipeline.</summary>
    internal abstract record Step;

    /// <summary>HF Split with behavior Isolated, invert false: matches and the text between them are pieces.</summary>
    internal sealed record SplitStep(Regex Pattern) : Step;

    /// <summary>HF ByteLevel: optionally prefix a space, then optionally split with the GPT-2 pattern.</summary>
    internal sealed record ByteLevelStep(bool AddPrefixSpace, bool UseRegex) : Step;

    /// <summary>Whether a ByteLevel step is present: the vocabulary is then spelled in <see cref="ByteLevelAlphabet"/>.</summary>
    public bool IsByteLevel => _steps.Any(s => s is ByteLevelStep);

    public static PreTokenizerPipeline Create(IReadOnlyList<Step> steps) => new(steps);

    /// <summary>
    /// How long one search of a pattern may run. The patterns of real tokenizers find each match in microseconds
    /// (every position starts one); a pattern from the file that backtracks catastrophically ((a+)+$ on 41 characters
    /// runs for hours) is stopped here instead of hanging the process.
    /// </summary>
    public static readonly TimeSpan MatchTimeout = TimeSpan.FromSeconds(1);

    /// <summary>Compiles an HF Split pattern (Oniguruma syntax, which .NET reads the same for the patterns in use); the common ones come precompiled (<see cref="KnownPatterns"/>).</summary>
    /// <remarks>
    /// The backtracking engine with a timeout, not <see cref="RegexOptions.NonBacktracking"/>: Oniguruma backtracks, and
    /// .NET's non-backtracking engine (7 to 10) drops the first match of patterns with an optional element next to the
    /// search start (" ?, ?" on " a,," finds only the second comma, dotnet/runtime#130176), a shape that tokenizer
    /// patterns share (alternatives opening with " ?" or "\s?"). Identical pieces matter more than linear time; the
    /// timeout bounds the rest.
    /// </remarks>
    /// <exception cref="ArgumentException">The pattern is not a valid .NET regex.</exception>
    public static Regex CreateRegex(string pattern) =>
        KnownPatterns.Find(pattern) ?? new(pattern, RegexOptions.CultureInvariant | RegexOptions.Compiled, MatchTimeout);

    /// <summary>Cuts <paramref name="text"/> into pre-tokens (non-empty).</summary>
    /// <exception cref="RegexMatchTimeoutException">A Split pattern ran longer than <see cref="MatchTimeout"/>.</exception>
    public List<string> Split(string text)
    {
        var pieces = new List<string> { text };
        var next = new List<string>();
        foreach (var step in _steps)
        {
            next.Clear();
            foreach (string piece in pieces)
            {
                Apply(step, piece, next);
            }

            (pieces, next) = (next, pieces);
        }

        return pieces;
    }

    private static void Apply(Step step, string piece, List<string> output)
    {
        switch (step)
        {
            case SplitStep split:
                SplitIsolated(split.Pattern, piece, output);
                break;
            case ByteLevelStep byteLevel:
                if (byteLevel.AddPrefixSpace && !piece.StartsWith(' '))
                {
                    piece = " " + piece;
                }

                if (byteLevel.UseRegex)
                {
                    SplitIsolated(KnownPatterns.Gpt2Regex(), piece, output);
                }
                else if (piece.Length > 0)
                {
                    output.Add(piece);
                }

                break;
        }
    }

    private static void SplitIsolated(Regex pattern, string text, List<string> output)
    {
        int last = 0;
        for (var match = pattern.Match(text); match.Success; match = match.NextMatch())
        {
            if (match.Length == 0)
            {
                continue;
            }

            if (match.Index > last)
            {
                output.Add(text[last..match.Index]);
            }

            output.Add(match.Value);
            last = match.Index + match.Length;
        }

        if (last < text.Length)
        {
            output.Add(text[last..]);
        }
    }
}
