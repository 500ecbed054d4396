using LongLM.Kernels.Ops;

namespace LongLM.Kernels.Cpu;

/// <summary>
/// The managed SIMD backend: TensorPrimitives and Vector512/256 inside each op, rows or heads spread over the
/// thread pool. Weights are read in place from the memory map.
/// </summary>
public sealed class CpuBackend : IBackend
{
    /// <summary>The most threads <see cref="CpuBackend(int)"/> accepts.</summary>
    public const int MaxThreads = 1024;

    /// <summary>A backend whose ops use every core (<see cref="Environment.ProcessorCount"/> threads).</summary>
    public CpuBackend()
    {
        Threads = Environment.ProcessorCount;
    }

    /// <summary>
    /// A backend whose ops use at most <paramref name="threads"/> threads each (the calling thread and
    /// threads - 1 thread-pool helpers); 1 runs every op on the calling thread. Results are bit-identical for any
    /// count: an op splits its rows or heads over threads, never a sum.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="threads"/> is outside [1, <see cref="MaxThreads"/>].</exception>
    public CpuBackend(int threads)
    {
        if (threads is < 1 or > MaxThreads)
            throw new ArgumentOutOfRangeException(nameof(threads), threads, $"threads must be in [1, {MaxThreads}], got {threads}");
        Threads = threads;
    }

    /// <summary>The most threads one op runs on.</summary>
    public int Threads { get; }

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
    /// <remarks>MatMul.Range has the int8 block dot path; Embedding dequantizes a row per token.</remarks>
    public bool SupportsQuantizedWeights => true;

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
        var job = PerThread<CpuJobs.RmsNorm>.Job;
        (job.Src, job.Dst, job.Weight, job.Dim, job.Eps, job.UnitOffset) = (Host(x), Host(destination), Weight(weight).Widened, dim, eps, addUnitOffset);
        CpuParallel.Run(job, rows, 16, Threads);
    }

    /// <inheritdoc />
    public void LayerNorm(DeviceBuffer x, DeviceWeight weight, DeviceWeight? bias, DeviceBuffer destination, int rows, int dim, float eps)
    {
        var job = PerThread<CpuJobs.LayerNorm>.Job;
        (job.Src, job.Dst, job.Weight, job.Bias, job.Dim, job.Eps) = (Host(x), Host(destination), Weight(weight).Widened, bias is null ? [] : Weight(bias).Widened, dim, eps);
        CpuParallel.Run(job, rows, 16, Threads);
    }

    /// <inheritdoc />
    public void Gelu(DeviceBuffer x, DeviceBuffer destination, long count, GeluApproximation approximation)
    {
        var job = PerThread<CpuJobs.Gelu>.Job;
        (job.Src, job.Dst, job.Approximation) = (Host(x), Host(destination), approximation);
        CpuParallel.Run(job, checked((int)count), 16384, Threads);
    }

    /// <inheritdoc />
    public void MatMul(DeviceBuffer x, DeviceWeight weight, DeviceWeight? bias, DeviceBuffer y, int rows)
    {
        var view = Weight(weight).View;
        var job = PerThread<CpuJobs.MatMul>.Job;
        (job.Src, job.Dst, job.View, job.Bias, job.Rows) = (Host(x), Host(y), view, bias is null ? null : Weight(bias).Widened, rows);
        if (view.DType.IsQuantized()) PrepareQuantized(job, rows);
        // Grain: about 64K multiply-adds per chunk before a thread is worth it.
        int items = job.Items(rows);
        long perItem = (long)view.Cols * (job.RowBlocks == 0 ? rows : (long)job.BlockRows * MatMulTiled.BlockCols);
        CpuParallel.Run(job, items, (int)Math.Max(1, 65536 / perItem), Threads);
    }

    /// <inheritdoc />
    /// <remarks>At decode (one row) the three projections are one op: one parallel region, the activation quantized once.</remarks>
    public void MatMul3(DeviceBuffer x, in Projection first, in Projection second, in Projection third, int rows)
    {
        if (rows != 1 || first.Weight.Cols != second.Weight.Cols || first.Weight.Cols != third.Weight.Cols)
        {
            MatMul(x, first.Weight, first.Bias, first.Output, rows);
            MatMul(x, second.Weight, second.Bias, second.Output, rows);
            MatMul(x, third.Weight, third.Bias, third.Output, rows);
            return;
        }
        var job = SetUp(x, gated: false, 3, first, second, third);
        RunSet(job, first.Weight.Rows + second.Weight.Rows + third.Weight.Rows, first.Weight.Cols);
    }

    /// <inheritdoc />
    /// <remarks>At decode (one row) gate, up and silu(gate) * up are one op over the output features.</remarks>
    public void GatedMatMul(DeviceBuffer x, in Projection gate, in Projection up, int rows)
    {
        if (rows != 1 || gate.Weight.Cols != up.Weight.Cols || gate.Weight.Rows != up.Weight.Rows)
        {
            MatMul(x, gate.Weight, gate.Bias, gate.Output, rows);
            MatMul(x, up.Weight, up.Bias, up.Output, rows);
            SiluMul(gate.Output, up.Output, gate.Output, (long)rows * gate.Weight.Rows);
            return;
        }
        var job = SetUp(x, gated: true, 2, gate, up, gate);
        RunSet(job, gate.Weight.Rows, 2 * gate.Weight.Cols);
    }

    private CpuJobs.MatMulSet SetUp(DeviceBuffer x, bool gated, int projections, in Projection first, in Projection second, in Projection third)
    {
        var job = PerThread<CpuJobs.MatMulSet>.Job;
        (job.Src, job.Gated, job.Projections) = (Host(x), gated, projections);
        bool quantized = false;
        for (int p = 0; p < projections; p++)
        {
            var projection = p == 0 ? first : p == 1 ? second : third;
            var view = Weight(projection.Weight).View;
            (job.Views[p], job.Biases[p], job.Outputs[p]) = (view, projection.Bias is null ? null : Weight(projection.Bias).Widened, Host(projection.Output));
            quantized |= view.DType.IsQuantized();
        }
        if (quantized)
        {
            int cols = first.Weight.Cols, length = Ops.MatMul.PreparedFloats(job.Views[0]);
            if (job.Prepared.Length < length) job.Prepared = new float[Math.Max(length, 2 * job.Prepared.Length)];
            Ops.MatMul.PrepareQuantized(job.Src, cols, job.Prepared, 0, 1);
        }
        return job;
    }

    // Grain as MatMul's: about 64K multiply-adds per chunk (costPerItem: multiply-adds of one item).
    private void RunSet(CpuJobs.MatMulSet job, int items, int costPerItem) =>
        CpuParallel.Run(job, items, Math.Max(1, 65536 / costPerItem), Threads);

    /// <summary>
    /// Quantizes the matmul's activation rows once, before its outputs are split over threads (each chunk used to
    /// quantize every row itself, up to four times per thread per op); one row (decode) stays on this thread.
    /// </summary>
    private void PrepareQuantized(CpuJobs.MatMul job, int rows)
    {
        int stride = Ops.MatMul.PreparedFloats(job.View);
        long length = (long)rows * stride;
        if (job.Prepared.Length < length) job.Prepared = new float[checked((int)Math.Max(length, 2L * job.Prepared.Length))];
        if (rows == 1)
        {
            Ops.MatMul.PrepareQuantized(job.Src, job.View.Cols, job.Prepared, 0, 1);
            return;
        }
        var prepare = PerThread<CpuJobs.PrepareQuantized>.Job;
        (prepare.Src, prepare.Prepared, prepare.Cols) = (job.Src, job.Prepared, job.View.Cols);
        CpuParallel.Run(prepare, rows, 8, Threads);
    }

    /// <inheritdoc />
    public void Rope(DeviceBuffer x, DeviceBuffer cosSin, int rows, int heads, int headDim, int rotaryDim, RopePairing pairing)
    {
        var job = PerThread<CpuJobs.Rope>.Job;
        (job.Data, job.Table, job.Heads, job.HeadDim, job.RotaryDim, job.Pairing) = (Host(x), Host(cosSin), heads, headDim, rotaryDim, pairing);
        CpuParallel.Run(job, rows, 8, Threads);
    }

    /// <inheritdoc />
    public void Attention(AttentionBuffers buffers, AttentionShape shape)
    {
        shape.Validate();
        var job = PerThread<CpuJobs.Attention>.Job;
        job.Set(Host(buffers.Query), Host(buffers.LocalKeys), Host(buffers.LocalValues), Host(buffers.Output), Optional(buffers.FarQuery),
            Optional(buffers.FarKeys), Optional(buffers.FarValues), Optional(buffers.ExtraLogits), Optional(buffers.ExtraValues), Optional(buffers.AlibiSlopes), shape,
            tiled: shape.QueryCount > 1);
        if (job.UsesLanes)
        {
            // head_dim 8: blocks of one row per vector lane x query heads (Ops.Attention.Lanes).
            CpuParallel.Run(job, shape.Heads * ((shape.QueryCount + Ops.Attention.LanesRows - 1) / Ops.Attention.LanesRows), 1, Threads);
            return;
        }
        if (shape.QueryCount > 1)
        {
            // A block of queries (prefill): tiles of rows x KV heads, each worth a thread.
            CpuParallel.Run(job, shape.KvHeads * ((shape.QueryCount + Ops.Attention.TileRows - 1) / Ops.Attention.TileRows), 1, Threads);
            return;
        }
        if (shape.QueryCount == 1 && Ops.Attention.SplitParts(shape) is var parts and > 1)
        {
            // Decode over more than one part of keys: (part, KV head) items, so that threads share a row's keys
            // evenly (whole rows give only KvHeads items), then the parts' softmax merged here.
            job.Split(parts);
            var output = Host(buffers.Output);
            CpuParallel.Run(job, parts * shape.KvHeads, 1, Threads);
            job.MergeParts(shape, parts, output);
            return;
        }
        int perJob = Math.Min(shape.LocalCount, shape.Window == long.MaxValue ? shape.LocalCount : (int)Math.Min(shape.Window, int.MaxValue)) + 1;
        perJob *= shape.Heads / shape.KvHeads;
        CpuParallel.Run(job, shape.QueryCount * shape.KvHeads, Math.Max(1, 8192 / perJob), Threads);
    }

    /// <inheritdoc />
    public void SelectTopK(DeviceBuffer query, DeviceBuffer farKeys, DeviceBuffer farValues, TopKShape shape, DeviceBuffer logits, DeviceBuffer values)
    {
        var job = PerThread<CpuJobs.SelectTopK>.Job;
        (job.Query, job.Keys, job.Values, job.Logits, job.Output, job.Shape) = (Host(query), Host(farKeys), Host(farValues), Host(logits), Host(values), shape);
        CpuParallel.Run(job, shape.Heads, 1, Threads);
    }

    /// <inheritdoc />
    public void GatherRows(DeviceBuffer x, ReadOnlySpan<int> rows, DeviceBuffer destination, int dim)
    {
        float[] src = Host(x), dst = Host(destination);
        RowGather.Check(rows, -1, src.Length / dim, dim, distinct: false);
        if ((long)rows.Length * dim > dst.Length) throw new ArgumentOutOfRangeException(nameof(destination), $"{rows.Length} rows of {dim} do not fit in {dst.Length} floats");
        for (int r = 0; r < rows.Length; r++)
            src.AsSpan(rows[r] * dim, dim).CopyTo(dst.AsSpan(r * dim, dim));
    }

    /// <inheritdoc />
    public void ScatterAddRows(DeviceBuffer source, ReadOnlySpan<int> rows, ReadOnlySpan<float> scales, DeviceBuffer destination, int dim)
    {
        float[] src = Host(source), dst = Host(destination);
        RowGather.Check(rows, scales.Length, dst.Length / dim, dim, distinct: true);
        if ((long)rows.Length * dim > src.Length) throw new ArgumentOutOfRangeException(nameof(source), $"{rows.Length} rows of {dim} are more than {src.Length} floats");
        // dst += s * src per row: a fused multiply-add would round differently from the reference's product-then-add.
        for (int r = 0; r < rows.Length; r++)
        {
            var to = dst.AsSpan(rows[r] * dim, dim);
            var from = src.AsSpan(r * dim, dim);
            float s = scales[r];
            for (int c = 0; c < dim; c++) to[c] += s * from[c];
        }
    }

    /// <inheritdoc />
    public void SiluMul(DeviceBuffer gate, DeviceBuffer up, DeviceBuffer destination, long count)
    {
        var job = PerThread<CpuJobs.Elementwise>.Job;
        (job.A, job.B, job.Dst, job.Silu) = (Host(gate), Host(up), Host(destination), true);
        // A prefill's gate is rows x intermediate floats; one decode row stays on this thread.
        CpuParallel.Run(job, checked((int)count), CpuJobs.Elementwise.Grain, Threads);
    }

    /// <inheritdoc />
    public void Add(DeviceBuffer a, DeviceBuffer b, DeviceBuffer destination, long count)
    {
        var job = PerThread<CpuJobs.Elementwise>.Job;
        (job.A, job.B, job.Dst, job.Silu) = (Host(a), Host(b), Host(destination), false);
        CpuParallel.Run(job, checked((int)count), 4 * CpuJobs.Elementwise.Grain, Threads);
    }

    /// <inheritdoc />
    public void LogSoftmax(DeviceBuffer x, DeviceBuffer destination, int rows, int cols)
    {
        var job = PerThread<CpuJobs.LogSoftmax>.Job;
        (job.Src, job.Dst, job.Cols) = (Host(x), Host(destination), cols);
        CpuParallel.Run(job, rows, 4, Threads);
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
