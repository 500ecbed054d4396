namespace LongLM.Tests.LmInfinite;

/// <summary>
/// algorithms.md 2.2/2.3 written out independently of the runtime: the full n x n logit matrix in double
/// precision, rotating with angles pos * theta, the Lambda mask, one softmax per row.
/// </summary>
internal static class DenseLambdaRule
{
    private static double[] Rotate(Func<int, int, float> f, int i, double position)
    {
        double[] theta = [1, 0.01];
        var x = Enumerable.Range(0, 4).Select(c => (double)f(i, c)).ToArray();
        var r = new double[4];
        for (int k = 0; k < 2; k++)
        {
            double cos = Math.Cos(position * theta[k]), sin = Math.Sin(position * theta[k]);
            r[k] = x[k] * cos - x[k + 2] * sin;
            r[k + 2] = x[k + 2] * cos + x[k] * sin;
        }
        return r;
    }

    private static double Dot(double[] a, double[] b) => a.Zip(b, (x, y) => x * y).Sum() / 2; // scale 1/sqrt(4)

    /// <summary>Row i's output under Lambda with window L, G starting tokens at ceiling D (null: no ceiling).</summary>
    public static double[] Output(int i, int window, int global, int? ceiling)
    {
        var logits = new List<(double Logit, int Key)>();
        for (int j = 0; j <= i; j++)
        {
            int delta = i - j;
            if (delta <= window - 1) logits.Add((Dot(Rotate(SyntheticAttention.Q, i, i), Rotate(SyntheticAttention.K, j, j)), j));
            else if (j < global)
                logits.Add(ceiling is int d
                    ? (Dot(Rotate(SyntheticAttention.Q, i, d), Rotate(SyntheticAttention.K, j, 0)), j)
                    : (Dot(Rotate(SyntheticAttention.Q, i, i), Rotate(SyntheticAttention.K, j, j)), j));
        }
        double max = logits.Max(l => l.Logit);
        double sum = logits.Sum(l => Math.Exp(l.Logit - max));
        var output = new double[4];
        foreach (var (logit, key) in logits)
            for (int c = 0; c < 4; c++) output[c] += Math.Exp(logit - max) / sum * SyntheticAttention.V(key, c);
        return output;
    }
}
