using System.Globalization;

namespace LongLM.Runtime.Evaluation;

/// <summary>
/// The comma lists of token counts the evaluation and benchmark commands take (passkey --lengths, continue-eval
/// --milestones, bench -p/-n/-d/-t), as llama-bench writes them: k means x1024.
/// </summary>
public static class TokenCountList
{
    /// <summary>
    /// Parses "512", "0,4k,32k": integers of at least <paramref name="min"/> in the order given, k = x1024, each once
    /// unless <paramref name="allowRepeats"/>.
    /// </summary>
    /// <exception cref="LongLMException">Empty, not a number, below <paramref name="min"/>, too large or repeated; names <paramref name="flag"/>.</exception>
    public static IReadOnlyList<int> Parse(string? text, string flag, int min, int max = int.MaxValue, bool allowRepeats = false)
    {
        var parts = (text ?? "").Split(',', StringSplitOptions.TrimEntries);
        if (parts.All(p => p.Length == 0)) throw new LongLMException($"{flag} is empty: give a comma list such as 512 or 0,4k");
        var values = new List<int>();
        foreach (string part in parts)
        {
            bool kilo = part.EndsWith('k') || part.EndsWith('K');
            string digits = kilo ? part[..^1] : part;
            if (digits.Length == 0 || !digits.All(char.IsAsciiDigit) || !long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long value))
                throw new LongLMException($"{flag}: '{part}' is not a whole number (write 512, 4k, ...)");
            if (kilo) value = value > int.MaxValue ? long.MaxValue : value * 1024;
            if (value < min) throw new LongLMException($"{flag}: {value} is below {min}");
            if (value > max) throw new LongLMException($"{flag}: {value} is above {max}");
            if (!allowRepeats && values.Contains((int)value)) throw new LongLMException($"{flag}: {value} is given twice");
            values.Add((int)value);
        }
        return values;
    }
}
