namespace LongLM.Kernels.Ops;

/// <summary>
/// Row gather and scaled scatter-add: how a sparse mixture-of-experts layer (HF MixtralSparseMoeBlock) hands each
/// expert only the token rows routed to it and adds the weighted expert outputs back, so an expert's MatMuls run on
/// its rows alone. Scalar references for <see cref="IBackend.GatherRows"/> and <see cref="IBackend.ScatterAddRows"/>.
/// </summary>
public static class RowGather
{
    /// <summary>dst[r, :] = x[rows[r], :] for r &lt; rows.Length, rows of <paramref name="dim"/> floats.</summary>
    public static void GatherReference(ReadOnlySpan<float> x, ReadOnlySpan<int> rows, Span<float> destination, int dim)
    {
        for (int r = 0; r < rows.Length; r++)
            x.Slice(rows[r] * dim, dim).CopyTo(destination.Slice(r * dim, dim));
    }

    /// <summary>dst[rows[r], :] += scales[r] * src[r, :] for r &lt; rows.Length (each product rounded to float, then added).</summary>
    public static void ScatterAddReference(ReadOnlySpan<float> source, ReadOnlySpan<int> rows, ReadOnlySpan<float> scales, Span<float> destination, int dim)
    {
        for (int r = 0; r < rows.Length; r++)
            for (int c = 0; c < dim; c++)
                destination[rows[r] * dim + c] += scales[r] * source[r * dim + c];
    }

    /// <summary>
    /// The checks every backend makes before it moves a float: as many scales as rows, every row index inside
    /// [0, <paramref name="tableRows"/>), and (scatter) no index twice, since rows are added in parallel without atomics.
    /// </summary>
    public static void Check(ReadOnlySpan<int> rows, int scaleCount, long tableRows, int dim, bool distinct)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dim);
        if (scaleCount >= 0 && scaleCount != rows.Length)
            throw new ArgumentException($"{scaleCount} scales for {rows.Length} rows");
        for (int r = 0; r < rows.Length; r++)
        {
            if ((uint)rows[r] >= (ulong)tableRows)
                throw new ArgumentOutOfRangeException(nameof(rows), $"row index {rows[r]} is outside [0, {tableRows})");
            if (!distinct) continue;
            for (int s = 0; s < r; s++)
                if (rows[s] == rows[r]) throw new ArgumentException($"row index {rows[r]} appears twice in one scatter-add", nameof(rows));
        }
    }
}
