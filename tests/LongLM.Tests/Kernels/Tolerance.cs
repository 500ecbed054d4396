namespace LongLM.Tests.Kernels;

/// <summary>llm.c's validate_result rule: |got - ref| <= atol + rtol * |ref|, reporting the first mismatches.</summary>
internal static class Tolerance
{
    public static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, float atol, float rtol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        var failures = new List<string>();
        for (int i = 0; i < expected.Length; i++)
        {
            float e = expected[i], a = actual[i];
            if (!float.IsFinite(e)) continue;
            if (!(Math.Abs(a - e) <= atol + rtol * Math.Abs(e)))
                if (failures.Count < 5) failures.Add($"[{i}] expected {e} got {a}");
                else break;
        }
        Assert.True(failures.Count == 0, $"{what}: {string.Join("; ", failures)}");
    }
}
