using LongLM.Kernels.Ops;

namespace LongLM.Kernels.Cpu;

/// <summary>
/// The managed SIMD backend: TensorPrimitives and Vector512/256 inside each op, rows or heads spread over the
/// thread pool. Weights are read in place from the memory map.
/// </summary>
public sealed class CpuBackend : IBackend
{
    /// <inheritdoc />
    public string Name => "cpu";

    /// <inheritdoc />
    /// <remarks>Ops keep no state between calls; each works on the caller's buffers over the shared thread pool.</remarks>
    public bool SupportsConcurrentCalls => true;

    /// <inheritdoc />
    public DeviceBuffer Allocate(long length) => new CpuBuffer(length);

    /// <inheritdoc />
    public void Upload(ReadOnlySpan<float> source, DeviceBuffer destination, long offset = 0) =>
        source.CopyTo(Host(destination).AsSpan(checked((int)offset)));

    /// <inheritdoc />
    public void Download(DeviceBuffer source, Span<float> destination, long offset = 0) =>
        Host(source).AsSpan(checked((int)offset), destination.Length).CopyTo(destination);

    /// <inheritdoc />
    public void Copy(DeviceBuffer source, long sourceOffset, DeviceBuffer destination, long destinationOffset, long count) =>
        Host(source).AsSpan(checked((int)sourceOffset), checked((int)count)).CopyTo(Host(destination).AsSpan(checked((int)destinationOffset)));

    /// <inheritdoc />
    public DeviceWeight LoadWeight(WeightView view) => new CpuWeight(view);

    /// <inheritdoc />
    public void Embedding(DeviceWeight table, ReadOnlySpan<int> ids, DeviceBuffer destination)
    {
        var view = Weight(table).View;
        var dst = Host(destination);
        for (int r = 0; r < ids.Length; r++)
        {
            if ((uint)ids[r] >= (uint)view.Rows)
                throw new ArgumentOutOfRangeException(nameof(ids), $"token id {ids[r]} is outside the vocabulary [0, {view.Rows})");
            ElementConvert.ToSingle(view.RowBytes(ids[r]), view.DType, dst.AsSpan(r * view.Cols, view.Cols));
        }
    }

    /// <inheritdoc />
    public void RmsNorm(DeviceBuffer x, DeviceWeight weight, DeviceBuffer destination, int rows, int dim, float eps, bool addUnitOffset = false)
    {
        var src = Host(x);
        var dst = Host(destination);
        var w = Weight(weight).Widened;
        CpuParallel.For(rows, 16, (start, end) =>
        {
            for (int r = start; r < end; r++)
                Ops.RmsNorm.Row(src.AsSpan(r * dim, dim), w, dst.AsSpan(r * dim, dim), eps, addUnitOffset);
        });
    }

    /// <inheritdoc />
    public void LayerNorm(DeviceBuffer x, DeviceWeight weight, DeviceWeight? bias, DeviceBuffer destination, int rows, int dim, float eps)
    {
        var src = Host(x);
        var dst = Host(destination);
        var w = Weight(weight).Widened;
        float[] b = bias is null ? [] : Weight(bias).Widened;
        CpuParallel.For(rows, 16, (start, end) =>
        {
            for (int r = start; r < end; r++)
                Ops.LayerNorm.Row(src.AsSpan(r * dim, dim), w, b, dst.AsSpan(r * dim, dim), eps);
        });
    }

    /// <inheritdoc />
    public void Gelu(DeviceBuffer x, DeviceBuffer destination, long count, GeluApproximation approximation)
    {
        var src = Host(x);
        var dst = Host(destination);
        CpuParallel.For(checked((int)count), 16384, (start, end) =>
            Ops.Gelu.Apply(src.AsSpan(start, end - start), dst.AsSpan(start, end - start), approximation));
    }

    /// <inheritdoc />
    public void MatMul(DeviceBuffer x, DeviceWeight weight, DeviceWeight? bias, DeviceBuffer y, int rows)
    {
        var view = Weight(weight).View;
        var src = Host(x);
        var dst = Host(y);
        float[]? b = bias is null ? null : Weight(bias).Widened;
        // Grain: about 64K multiply-adds per chunk before a thread is worth it.
        int grain = Math.Max(1, 65536 / Math.Max(1, view.Cols * rows));
        CpuParallel.For(view.Rows, grain, (start, end) =>
        {
            float[]? scratch = view.DType == DType.F32 ? null : System.Buffers.ArrayPool<float>.Shared.Rent(view.Cols);
            try
            {
                Ops.MatMul.Range(src, rows, view, b, dst, start, end, scratch);
            }
            finally
            {
                if (scratch is not null) System.Buffers.ArrayPool<float>.Shared.Return(scratch);
            }
        });
    }

    /// <inheritdoc />
    public void Rope(DeviceBuffer x, DeviceBuffer cosSin, int rows, int heads, int headDim, int rotaryDim, RopePairing pairing)
    {
        var data = Host(x);
        var table = Host(cosSin);
        int half = rotaryDim / 2;
        CpuParallel.For(rows, 8, (start, end) =>
        {
            for (int r = start; r < end; r++)
                for (int h = 0; h < heads; h++)
                    Ops.Rope.Head(data.AsSpan((r * heads + h) * headDim, headDim), table.AsSpan(r * half * 2, half * 2), rotaryDim, pairing);
        });
    }

    /// <inheritdoc />
    public void Attention(AttentionBuffers buffers, AttentionShape shape)
    {
        shape.Validate();
        float[] q = Host(buffers.Query), k = Host(buffers.LocalKeys), v = Host(buffers.LocalValues), o = Host(buffers.Output);
        float[]? fq = Optional(buffers.FarQuery), fk = Optional(buffers.FarKeys), fv = Optional(buffers.FarValues);
        float[]? el = Optional(buffers.ExtraLogits), ev = Optional(buffers.ExtraValues), slopes = Optional(buffers.AlibiSlopes);
        int scratchLength = shape.LocalCount + shape.FarCount + shape.ExtraCount;
        int perJob = Math.Min(shape.LocalCount, shape.Window == long.MaxValue ? shape.LocalCount : (int)Math.Min(shape.Window, int.MaxValue)) + 1;
        CpuParallel.For(shape.QueryCount * shape.Heads, Math.Max(1, 8192 / perJob), (start, end) =>
        {
            float[] scratch = System.Buffers.ArrayPool<float>.Shared.Rent(scratchLength);
            try
            {
                var spans = new AttentionSpans(q, k, v, o, fq, fk, fv, el, ev, slopes);
                for (int job = start; job < end; job++)
                    Ops.Attention.Head(spans, shape, job / shape.Heads, job % shape.Heads, scratch);
            }
            finally
            {
                System.Buffers.ArrayPool<float>.Shared.Return(scratch);
            }
        });
    }

    /// <inheritdoc />
    public void SelectTopK(DeviceBuffer query, DeviceBuffer farKeys, DeviceBuffer farValues, TopKShape shape, DeviceBuffer logits, DeviceBuffer values)
    {
        float[] q = Host(query), k = Host(farKeys), v = Host(farValues), l = Host(logits), o = Host(values);
        CpuParallel.For(shape.Heads, 1, (start, end) =>
        {
            for (int h = start; h < end; h++) TopK.Head(q, k, v, shape, h, l, o);
        });
    }

    /// <inheritdoc />
    public void SiluMul(DeviceBuffer gate, DeviceBuffer up, DeviceBuffer destination, long count)
    {
        int n = checked((int)count);
        Elementwise.SiluMul(Host(gate).AsSpan(0, n), Host(up).AsSpan(0, n), Host(destination).AsSpan(0, n));
    }

    /// <inheritdoc />
    public void Add(DeviceBuffer a, DeviceBuffer b, DeviceBuffer destination, long count)
    {
        int n = checked((int)count);
        Elementwise.Add(Host(a).AsSpan(0, n), Host(b).AsSpan(0, n), Host(destination).AsSpan(0, n));
    }

    /// <inheritdoc />
    public void LogSoftmax(DeviceBuffer x, DeviceBuffer destination, int rows, int cols)
    {
        var src = Host(x);
        var dst = Host(destination);
        CpuParallel.For(rows, 4, (start, end) =>
        {
            for (int r = start; r < end; r++)
                Ops.LogSoftmax.Row(src.AsSpan(r * cols, cols), dst.AsSpan(r * cols, cols));
        });
    }

    /// <inheritdoc />
    public void ClexIntegrate(DeviceBuffer z0, DeviceBuffer upProj, DeviceBuffer downProj, DeviceBuffer grid, DeviceBuffer timeTerms,
        DeviceBuffer outputTimes, DeviceBuffer result, ClexShape shape)
    {
        float[] z = Host(z0), up = Host(upProj), down = Host(downProj), g = Host(grid), terms = Host(timeTerms), times = Host(outputTimes), r = Host(result);
        ClexOde.CheckLengths(z.Length, up.Length, down.Length, g.Length, terms.Length, times.Length, r.Length, shape);
        // One sequential solve (the steps depend on each other; m and λd are small): the float32 loop of Ops.ClexOde.
        ClexOde.Integrate(z, up, down, g, terms, times, r, shape);
    }

    /// <inheritdoc />
    public void Dispose()
    {
    }

    private static float[]? Optional(DeviceBuffer? buffer) => buffer is null ? null : Host(buffer);

    private static float[] Host(DeviceBuffer buffer) =>
        (buffer as CpuBuffer ?? throw new ArgumentException($"buffer belongs to another backend ({buffer.GetType().Name})")).Data;

    private static CpuWeight Weight(DeviceWeight weight) =>
        weight as CpuWeight ?? throw new ArgumentException($"weight '{weight.Name}' belongs to another backend");
}
