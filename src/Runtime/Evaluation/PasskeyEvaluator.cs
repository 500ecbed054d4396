using System.Globalization;

namespace LongLM.Runtime.Evaluation;

/// <summary>Accuracy of one (length, depth) cell.</summary>
/// <param name="Length">Prompt length budget in tokens.</param>
/// <param name="Depth">Where the key line sits, 0 (start) to 1 (end).</param>
/// <param name="Trials">Prompts run.</param>
/// <param name="Correct">Answers scored correct.</param>
/// <param name="MeanTokens">Mean prompt tokens actually used.</param>
/// <param name="Answers">The generated texts, in trial order.</param>
public sealed record PasskeyCell(int Length, double Depth, int Trials, int Correct, double MeanTokens, IReadOnlyList<string> Answers)
{
    /// <summary>Correct / trials.</summary>
    public double Accuracy => Trials == 0 ? 0 : (double)Correct / Trials;
}

/// <summary>
/// The passkey retrieval test of Mohtashami and Jaggi (2023) as LM-Infinite builds it (docs/passkey.md): for every
/// length and depth, <c>trials</c> prompts with the same passkeys; an answer is correct when its first run of digits,
/// read as an integer, equals the passkey (LM-Infinite's passkey_retrieval_accuracy).
/// </summary>
public static class PasskeyEvaluator
{
    /// <summary>Tokens generated per answer (LM-Infinite's --max_generation_length 7: a 7-digit key).</summary>
    public const int DefaultAnswerTokens = 7;

    /// <summary>
    /// The passkeys of one length: <paramref name="trials"/> draws from System.Random(seed + length) in [1, 9999999]
    /// (LM-Infinite seeds numpy with the length); every depth and attention mode of that length sees the same ones.
    /// </summary>
    public static int[] Passkeys(int seed, int length, int trials)
    {
        if (trials <= 0) throw new LongLMException($"trials must be positive, got {trials}");
        var random = new Random(unchecked(seed + length));
        var keys = new int[trials];
        for (int t = 0; t < trials; t++) keys[t] = random.Next(PasskeyPrompt.MinPasskey, PasskeyPrompt.MaxPasskey + 1);
        return keys;
    }

    /// <summary>The first maximal run of ASCII digits in <paramref name="answer"/> as a number, or null when there is none.</summary>
    public static long? ExtractNumber(string answer)
    {
        ArgumentNullException.ThrowIfNull(answer);
        int start = 0;
        while (start < answer.Length && !char.IsAsciiDigit(answer[start])) start++;
        if (start == answer.Length) return null;
        int end = start;
        while (end < answer.Length && char.IsAsciiDigit(answer[end])) end++;
        // Leading zeros read as the integer; a run too long for a long cannot equal a 7-digit key.
        string digits = answer[start..end].TrimStart('0');
        if (digits.Length == 0) return 0;
        return digits.Length > 18 ? long.MaxValue : long.Parse(digits, CultureInfo.InvariantCulture);
    }

    /// <summary>Stop strings of LM-Infinite's StoppingWords: generation ends once the text reaches one.</summary>
    public static IReadOnlyList<string> StopStrings { get; } = ["\n", "</Answer>", "</Summary>"];

    /// <summary>The generated text up to its first stop string (what LM-Infinite keeps of an answer).</summary>
    public static string CutAtStop(string generated)
    {
        ArgumentNullException.ThrowIfNull(generated);
        int end = generated.Length;
        foreach (string stop in StopStrings)
        {
            int at = generated.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && at < end) end = at;
        }
        return generated[..end];
    }

    /// <summary>Correct when the first run of digits before any stop string equals the passkey.</summary>
    public static bool IsCorrect(string answer, int passkey) => ExtractNumber(CutAtStop(answer)) == passkey;

    /// <summary>
    /// Runs every length x depth x trial: <paramref name="countTokens"/> measures prompts (BOS included as the model
    /// reads them), <paramref name="answer"/> returns the model's text after a prompt. Cells are length-major.
    /// </summary>
    public static IReadOnlyList<PasskeyCell> Evaluate(IReadOnlyList<int> lengths, IReadOnlyList<double> depths, int trials, int seed,
        Func<string, int> countTokens, Func<PasskeyPrompt, string> answer, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(answer);
        if (lengths.Count == 0) throw new LongLMException("give at least one length");
        if (depths.Count == 0) throw new LongLMException("give at least one depth");
        var cells = new List<PasskeyCell>();
        long done = 0;
        foreach (int length in lengths)
        {
            int[] keys = Passkeys(seed, length, trials);
            foreach (double depth in depths)
            {
                int correct = 0;
                long tokens = 0;
                var answers = new List<string>(trials);
                foreach (int key in keys)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var prompt = PasskeyPrompt.Build(countTokens, length, depth, key);
                    string text = CutAtStop(answer(prompt));
                    answers.Add(text);
                    if (IsCorrect(text, key)) correct++;
                    tokens += prompt.Tokens;
                    progress?.Report(++done);
                }
                cells.Add(new PasskeyCell(length, depth, trials, correct, (double)tokens / trials, answers));
            }
        }
        return cells;
    }

    /// <summary>Parses a comma list of lengths in tokens; a k suffix multiplies by 1024 ("1k,2k,32k").</summary>
    public static IReadOnlyList<int> ParseLengths(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TokenCountList.Parse(text, "--lengths", 1, allowRepeats: true);
    }

    /// <summary>Parses a comma list of depths in [0, 1].</summary>
    public static IReadOnlyList<double> ParseDepths(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var depths = new List<double>();
        foreach (string item in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!double.TryParse(item, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double depth) || depth is < 0 or > 1)
                throw new LongLMException($"bad depth '{item}' in '{text}': give fractions in [0, 1] such as 0,0.5,1");
            depths.Add(depth);
        }
        return depths;
    }
}
