using System.Text.Json;

namespace LongLM.Tests.Models;

/// <summary>Golden logits files (tests/LongLM.Tests/golden, written by tools/reference) and their comparison.</summary>
internal static class GoldenLogits
{
    /// <summary>The ids and the flattened [positions, vocab] logits of a golden file.</summary>
    public static (int[] Ids, float[] Logits) Read(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "golden", name)));
        return (doc.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
            doc.RootElement.GetProperty("logits").EnumerateArray().SelectMany(r => r.EnumerateArray().Select(e => e.GetSingle())).ToArray());
    }

    /// <summary>max |expected - actual| within <paramref name="bound"/>.</summary>
    public static void AssertWithin(float[] expected, float[] actual, double bound, string what = "")
    {
        Assert.Equal(expected.Length, actual.Length);
        double max = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
        Assert.True(max <= bound, $"{what} max |diff| = {max}");
    }
}
