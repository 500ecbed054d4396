using LongLM.Runtime;

namespace LongLM.Cli.Commands;

/// <summary>Parses "1,2,3" id lists.</summary>
public static class TokenIds
{
    /// <summary>The ids in <paramref name="text"/>; a clear error on anything that is not a non-negative integer.</summary>
    public static int[] Parse(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0) throw new LongLMException("--ids is empty: give comma-separated token ids, e.g. 1,2,3");
        return parts.Select(p => int.TryParse(p, out int id) && id >= 0
            ? id
            : throw new LongLMException($"--ids: '{p}' is not a token id")).ToArray();
    }
}
