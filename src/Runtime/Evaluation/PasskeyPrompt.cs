using System.Globalization;

namespace LongLM.Runtime.Evaluation;

/// <summary>One passkey retrieval prompt (docs/passkey.md).</summary>
/// <param name="Text">The prompt text, without BOS (the tokenizer adds it as its config says).</param>
/// <param name="Passkey">The number hidden in the text.</param>
/// <param name="Fillers">Filler repeats in the prompt.</param>
/// <param name="FillersBefore">Filler repeats before the passkey line (the depth).</param>
/// <param name="Tokens">Tokens of the whole prompt as the counter measured them (BOS included when it adds one).</param>
public sealed record PasskeyPrompt(string Text, int Passkey, int Fillers, int FillersBefore, int Tokens)
{
    /// <summary>The task description that opens every prompt (LM-Infinite's TASK_PREFIX).</summary>
    public const string TaskPrefix = "There is an important info hidden inside a lot of irrelevant text. Find it and memorize it. I will quiz you about the important information there.";

    /// <summary>One filler repeat (LM-Infinite's DEFAULT_CONTENT).</summary>
    public const string Filler = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.";

    /// <summary>The question after the text, with LM-Infinite's leading and trailing spaces.</summary>
    public const string Question = " What is the pass key? The pass key is ";

    /// <summary>Smallest passkey drawn (LM-Infinite: rng.randint(1, 10000000)).</summary>
    public const int MinPasskey = 1;

    /// <summary>Largest passkey drawn.</summary>
    public const int MaxPasskey = 9_999_999;

    /// <summary>The passkey line (LM-Infinite's KEY_CONTENT).</summary>
    public static string KeyLine(int passkey)
    {
        string key = passkey.ToString(CultureInfo.InvariantCulture);
        return $"The pass key is {key}. Remember it. {key} is the pass key.";
    }

    /// <summary>
    /// The text: the task prefix, <paramref name="before"/> fillers, the key line, the other fillers, all joined by one
    /// space (LM-Infinite's " ".join), then the question.
    /// </summary>
    public static string Compose(int passkey, int fillers, int before)
    {
        if (fillers < 0 || before < 0 || before > fillers) throw new ArgumentOutOfRangeException(nameof(before), $"need 0 <= before ({before}) <= fillers ({fillers})");
        var parts = new List<string>(fillers + 2) { TaskPrefix };
        for (int i = 0; i < before; i++) parts.Add(Filler);
        parts.Add(KeyLine(passkey));
        for (int i = before; i < fillers; i++) parts.Add(Filler);
        return string.Join(' ', parts) + Question;
    }

    /// <summary>Filler repeats before the key line: depth x fillers rounded half up (depth 0: right after the prefix; 1: right before the question).</summary>
    public static int FillersBeforeAt(double depth, int fillers) => (int)Math.Floor(depth * fillers + 0.5);

    /// <summary>
    /// The prompt of at most <paramref name="length"/> tokens with the most filler repeats: <paramref name="countTokens"/>
    /// measures a whole prompt text as the model reads it (with BOS when the tokenizer adds one). The count is first
    /// estimated from the prompt with no filler and one filler, then corrected by measuring the whole prompt, so
    /// tokens that merge across the joins cannot push it past the length.
    /// </summary>
    /// <exception cref="LongLMException">A depth outside [0, 1], a passkey out of range, or a length too short for one filler.</exception>
    public static PasskeyPrompt Build(Func<string, int> countTokens, int length, double depth, int passkey)
    {
        ArgumentNullException.ThrowIfNull(countTokens);
        if (!(depth >= 0 && depth <= 1)) throw new LongLMException($"depth must be in [0, 1], got {depth.ToString(CultureInfo.InvariantCulture)}");
        if (passkey is < MinPasskey or > MaxPasskey) throw new LongLMException($"passkey must be in [{MinPasskey}, {MaxPasskey}], got {passkey}");
        int Count(int n) => countTokens(Compose(passkey, n, FillersBeforeAt(depth, n)));
        int bare = Count(0);
        int one = Count(1);
        if (one > length)
            throw new LongLMException($"length {length} is too short for a passkey prompt: with one filler it takes {one} tokens");
        int per = Math.Max(1, one - bare);
        int n = Math.Max(1, (length - bare) / per);
        int tokens = Count(n);
        while (tokens > length && n > 1) tokens = Count(--n);
        while (true)
        {
            int next = Count(n + 1);
            if (next > length) break;
            n++;
            tokens = next;
        }
        int before = FillersBeforeAt(depth, n);
        return new PasskeyPrompt(Compose(passkey, n, before), passkey, n, before, tokens);
    }
}
