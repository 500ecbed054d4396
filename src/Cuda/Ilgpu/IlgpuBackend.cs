using ILGPU;
using LongLM.Kernels.Ops;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace LongLM.Kernels.Ilgpu;

/// <summary>
/// Every <see cref="IBackend"/> op as an ILGPU kernel (one file per op family in this folder). The same kernels
/// run on <c>cuda</c> (PTX JIT-ed by the driver) and on <c>ilgpu-cpu</c> (ILGPU's CPU accelerator, configured
/// with 32-thread warps so the code paths match a GPU's).
/// </summary>
/// <remarks>
/// Launch geometry: every kernel uses 128-thread groups and loops grid-stride over its work, and the grid is
/// capped at one wave of resident groups (multiprocessors x groups per multiprocessor). On an H100 that is
/// 132 x 16 groups; on the CPU accelerator it is one group, which keeps the simulator's per-group barriers (OS
/// thread rendezvous) to a minimum. Kernels are compiled on first use and cached for the backend's lifetime.
/// Launches are asynchronous on the accelerator's default stream; uploads and downloads synchronise it.
/// </remarks>
public sealed class IlgpuBackend : IBackend
{
    private const int GroupSize = GroupReduce.MaxGroupSize;

    private readonly Accelerator _accelerator;
    private readonly Context? _ownedContext;
    private readonly int _waveGroups;
    private readonly Dictionary<string, object> _kernels = [];
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _noBias;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> _argMaxResult;
    private MemoryBuffer1D<int, Stride1D.Dense> _ids;
    private MemoryBuffer1D<float, Stride1D.Dense> _scales;
    private MemoryBuffer1D<float, Stride1D.Dense> _xScales;
    private MemoryBuffer1D<Quad, Stride1D.Dense> _xQuants;

    /// <summary>A backend on <paramref name="accelerator"/>, which the caller keeps owning.</summary>
    public IlgpuBackend(Accelerator accelerator) : this(accelerator, null)
    {
    }

    private IlgpuBackend(Accelerator accelerator, Context? ownedContext)
    {
        if (accelerator.WarpSize != 32 || accelerator.MaxNumThreadsPerGroup < GroupSize)
            throw new NotSupportedException(
                $"the ILGPU kernels need 32-thread warps and {GroupSize}-thread groups; {accelerator.Name} has warp {accelerator.WarpSize} and groups up to {accelerator.MaxNumThreadsPerGroup}");
        _accelerator = accelerator;
        _ownedContext = ownedContext;
        _waveGroups = Math.Max(1, accelerator.NumMultiprocessors * Math.Max(1, accelerator.MaxNumThreadsPerMultiprocessor / GroupSize));
        Name = accelerator.AcceleratorType switch
        {
            AcceleratorType.Cuda => "cuda",
            AcceleratorType.CPU => "ilgpu-cpu",
            var other => "ilgpu-" + other.ToString().ToLowerInvariant(),
        };
        _noBias = accelerator.Allocate1D<float>(1);
        _argMaxResult = accelerator.Allocate1D<int>(1);
        _ids = accelerator.Allocate1D<int>(64);
        _scales = accelerator.Allocate1D<float>(64);
        _xScales = accelerator.Allocate1D<float>(64);
        _xQuants = accelerator.Allocate1D<Quad>(128);
    }

    /// <summary>The first CUDA device, with kernels compiled at optimisation level O2.</summary>
    /// <exception cref="BackendUnavailableException">No CUDA driver or device is present.</exception>
    public static IlgpuBackend CreateCuda()
    {
        Context? context = null;
        try
        {
            context = Context.Create(builder => builder.Cuda().Optimize(OptimizationLevel.O2));
            if (context.GetCudaDevices().Count == 0)
                throw new BackendUnavailableException("no CUDA device found (backend 'cuda'); use --backend cpu");
            return new IlgpuBackend(context.CreateCudaAccelerator(0), context);
        }
        catch (BackendUnavailableException)
        {
            context?.Dispose();
            throw;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            context?.Dispose();
            throw new BackendUnavailableException($"the CUDA backend could not start ({e.GetType().Name}: {e.Message}); use --backend cpu", e);
        }
    }

    /// <summary>
    /// The same kernels on ILGPU's CPU accelerator, shaped like a GPU: 32-thread warps, 128-thread groups (the
    /// kernels' group size; the default CPU device caps groups at 16), one multiprocessor. The simulator starts
    /// one OS thread per thread of a multiprocessor and every group and barrier is a rendezvous of all of them, so
    /// a larger device (CPUDeviceKind.Nvidia: 1024 threads) only makes every launch slower.
    /// </summary>
    public static IlgpuBackend CreateCpu()
    {
        var device = new CPUDevice(numThreadsPerWarp: 32, numWarpsPerMultiprocessor: GroupSize / 32, numMultiprocessors: 1);
        var context = Context.Create(builder => builder.CPU(device).Optimize(OptimizationLevel.O2));
        try
        {
            return new IlgpuBackend(device.CreateCPUAccelerator(context, CPUAcceleratorMode.Parallel), context);
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    /// <remarks>One accelerator stream, shared staging buffers (token ids, argmax result) and a kernel cache: callers serialise.</remarks>
    public bool SupportsConcurrentCalls => false;

    /// <inheritdoc />
    public DeviceBuffer Allocate(long length) => new IlgpuBuffer(_accelerator, length);

    /// <inheritdoc />
    public void Upload(ReadOnlySpan<float> source, DeviceBuffer destination, long offset = 0)
    {
        var target = Slice(destination, offset, source.Length);
        if (!source.IsEmpty) target.CopyFromCPU(source);
    }

    /// <inheritdoc />
    public void Download(DeviceBuffer source, Span<float> destination, long offset = 0)
    {
        var view = Slice(source, offset, destination.Length);
        if (!destination.IsEmpty) view.CopyToCPU(destination);
    }

    /// <inheritdoc />
    public void Copy(DeviceBuffer source, long sourceOffset, DeviceBuffer destination, long destinationOffset, long count)
    {
        var from = Slice(source, sourceOffset, count);
        var to = Slice(destination, destinationOffset, count);
        if (count > 0) from.CopyTo(to);
    }

    /// <inheritdoc />
    public DeviceWeight LoadWeight(WeightView view) => new IlgpuWeight(_accelerator, view);

    /// <inheritdoc />
    /// <remarks>Every weight is uploaded to accelerator memory (<see cref="IlgpuWeight"/>).</remarks>
    public bool CopiesWeights => true;

    /// <inheritdoc />
    public void Embedding(DeviceWeight table, ReadOnlySpan<int> ids, DeviceBuffer destination)
    {
        var t = Weight(table);
        foreach (int id in ids)
            if ((uint)id >= (uint)t.Rows)
                throw new ArgumentOutOfRangeException(nameof(ids), $"token id {id} is outside the vocabulary [0, {t.Rows})");
        if (ids.IsEmpty) return;
        var dst = Slice(destination, 0, (long)ids.Length * t.Cols);
        var idView = StageIds(ids);
        switch (t.Storage)
        {
            case DType.F32: Gather<F32x1>(t, idView, dst, ids.Length); break;
            case DType.F16: Gather<F16x1>(t, idView, dst, ids.Length); break;
            case DType.BF16: Gather<Bf16x1>(t, idView, dst, ids.Length); break;
            case DType.Q8_0: GatherQuantized<Q8_0Format>(t, idView, dst, ids.Length); break;
            case DType.Q4_0: GatherQuantized<Q4_0Format>(t, idView, dst, ids.Length); break;
            default: throw new ArgumentOutOfRangeException(nameof(table), $"weight '{t.Name}' has unsupported dtype {t.Storage}");
        }
    }

    /// <summary>Copies <paramref name="ids"/> into the shared staging buffer (grown, never per call) and returns its view.</summary>
    private ArrayView<int> StageIds(ReadOnlySpan<int> ids)
    {
        EnsureLength(ref _ids, ids.Length);
        ArrayView<int> view = _ids.View.SubView(0, ids.Length);
        view.CopyFromCPU(ids);
        return view;
    }

    /// <inheritdoc />
    public void GatherRows(DeviceBuffer x, ReadOnlySpan<int> rows, DeviceBuffer destination, int dim)
    {
        RowGather.Check(rows, -1, x.Length / dim, dim, distinct: false);
        if (rows.IsEmpty) return;
        var dst = Slice(destination, 0, (long)rows.Length * dim);
        var src = Slice(x, 0, x.Length / dim * dim);
        var kernel = Kernel("gather-rows", static a =>
            a.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int>(RowKernels.Gather));
        kernel(Elementwise((long)rows.Length * dim), src, StageIds(rows), dst, rows.Length, dim);
    }

    /// <inheritdoc />
    public void ScatterAddRows(DeviceBuffer source, ReadOnlySpan<int> rows, ReadOnlySpan<float> scales, DeviceBuffer destination, int dim)
    {
        RowGather.Check(rows, scales.Length, destination.Length / dim, dim, distinct: true);
        if (rows.IsEmpty) return;
        var src = Slice(source, 0, (long)rows.Length * dim);
        var dst = Slice(destination, 0, destination.Length / dim * dim);
        EnsureLength(ref _scales, scales.Length);
        ArrayView<float> scaleView = _scales.View.SubView(0, scales.Length);
        scaleView.CopyFromCPU(scales);
        var kernel = Kernel("scatter-add-rows", static a =>
            a.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int>(RowKernels.ScatterAdd));
        kernel(Elementwise((long)rows.Length * dim), src, StageIds(rows), scaleView, dst, rows.Length, dim);
    }

    private void Gather<TPack>(IlgpuWeight table, ArrayView<int> ids, ArrayView<float> destination, int rows) where TPack : unmanaged, IWeightPack
    {
        var kernel = Kernel($"gather/{typeof(TPack).Name}", static a =>
            a.LoadStreamKernel<ArrayView<TPack>, ArrayView<int>, ArrayView<float>, int, int>(EmbeddingKernels.Gather));
        kernel(Elementwise((long)rows * table.Cols), table.Packs<TPack>(), ids, destination, rows, table.Cols);
    }

    private void GatherQuantized<TFormat>(IlgpuWeight table, ArrayView<int> ids, ArrayView<float> destination, int rows) where TFormat : unmanaged, IQuantFormat
    {
        var kernel = Kernel($"gather/{typeof(TFormat).Name}", static a =>
            a.LoadStreamKernel<ArrayView<ushort>, ArrayView<Quad>, ArrayView<int>, ArrayView<float>, int, int>(QuantKernels.Gather<TFormat>));
        kernel(Elementwise((long)rows * table.Cols), table.Scales, table.Quants, ids, destination, rows, table.Cols);
    }

    /// <inheritdoc />
    /// <remarks>q8_0/q4_0 matmuls quantize their activation rows on the device (<see cref="QuantKernels"/>); embeddings widen a row per token.</remarks>
    public bool SupportsQuantizedWeights => true;

    /// <inheritdoc />
    public void RmsNorm(DeviceBuffer x, DeviceWeight weight, DeviceBuffer destination, int rows, int dim, float eps, bool addUnitOffset = false)
    {
        var w = Vector(weight, dim);
        var kernel = Kernel("rmsnorm", static a =>
            a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float, int>(NormKernels.RmsNorm));
        kernel(Groups(rows), Slice(x, 0, (long)rows * dim), w, Slice(destination, 0, (long)rows * dim), rows, dim, eps, addUnitOffset ? 1 : 0);
    }

    /// <inheritdoc />
    public void MatMul(DeviceBuffer x, DeviceWeight weight, DeviceWeight? bias, DeviceBuffer y, int rows)
    {
        var w = Weight(weight);
        var shape = new MatMulShape { Rows = rows, InDim = w.Cols, OutDim = w.Rows, HasBias = bias is null ? 0 : 1 };
        var xs = Slice(x, 0, (long)rows * w.Cols);
        var ys = Slice(y, 0, (long)rows * w.Rows);
        ArrayView<float> b = bias is null ? _noBias.View : Vector(bias, w.Rows);
        if (rows == 0) return;
        switch (w.Storage, w.PackWidth)
        {
            case (DType.F32, 4): MatMul<F32x4>(w, xs, b, ys, shape); break;
            case (DType.F32, _): MatMul<F32x1>(w, xs, b, ys, shape); break;
            case (DType.F16, 4): MatMul<F16x4>(w, xs, b, ys, shape); break;
            case (DType.F16, _): MatMul<F16x1>(w, xs, b, ys, shape); break;
            case (DType.BF16, 4): MatMul<Bf16x4>(w, xs, b, ys, shape); break;
            case (DType.BF16, _): MatMul<Bf16x1>(w, xs, b, ys, shape); break;
            case (DType.Q8_0, _): QuantizedMatMul<Q8_0Format>(w, xs, b, ys, shape); break;
            case (DType.Q4_0, _): QuantizedMatMul<Q4_0Format>(w, xs, b, ys, shape); break;
            default: throw new ArgumentOutOfRangeException(nameof(weight), $"weight '{w.Name}' has unsupported dtype {w.Storage}");
        }
    }

    private void MatMul<TPack>(IlgpuWeight w, ArrayView<float> x, ArrayView<float> bias, ArrayView<float> y, MatMulShape shape)
        where TPack : unmanaged, IWeightPack
    {
        if (shape.Rows == 1)
        {
            var gemv = Kernel($"gemv/{typeof(TPack).Name}", static a =>
                a.LoadStreamKernel<ArrayView<TPack>, ArrayView<float>, ArrayView<float>, ArrayView<float>, MatMulShape>(MatMulKernels.Gemv));
            long warps = (shape.OutDim + MatMulKernels.RowsPerWarp - 1) / MatMulKernels.RowsPerWarp;
            gemv(Groups((warps + GroupSize / 32 - 1) / (GroupSize / 32)), w.Packs<TPack>(), x, bias, y, shape);
        }
        else
        {
            var gemm = Kernel($"gemm/{typeof(TPack).Name}", static a =>
                a.LoadStreamKernel<ArrayView<TPack>, ArrayView<float>, ArrayView<float>, ArrayView<float>, MatMulShape>(MatMulKernels.Gemm));
            long tiles = (long)((shape.Rows + 31) / 32) * ((shape.OutDim + 63) / 64);
            gemm(Groups(tiles), w.Packs<TPack>(), x, bias, y, shape);
        }
    }

    /// <summary>
    /// The activation rows quantized to q8_0 into the shared staging buffers (grown, never per call), then one warp per
    /// (row, four outputs). Both launches go on the one stream, so the second sees the first's output.
    /// </summary>
    private void QuantizedMatMul<TFormat>(IlgpuWeight w, ArrayView<float> x, ArrayView<float> bias, ArrayView<float> y, MatMulShape shape)
        where TFormat : unmanaged, IQuantFormat
    {
        long blocks = (long)shape.Rows * (shape.InDim / Quant.BlockQ8_0.BlockSize);
        EnsureLength(ref _xScales, blocks);
        EnsureLength(ref _xQuants, 2 * blocks);
        ArrayView<float> xScales = _xScales.View.SubView(0, blocks);
        ArrayView<Quad> xQuants = _xQuants.View.SubView(0, 2 * blocks);
        var quantize = Kernel("quantize-rows-q8_0", static a =>
            a.LoadStreamKernel<ArrayView<float>, ArrayView<Quad>, ArrayView<float>, int>(QuantKernels.QuantizeRows));
        quantize(Elementwise(blocks), x, xQuants, xScales, checked((int)blocks));
        var matmul = Kernel($"matmul/{typeof(TFormat).Name}", static a =>
            a.LoadStreamKernel<ArrayView<ushort>, ArrayView<Quad>, ArrayView<float>, ArrayView<Quad>, ArrayView<float>, ArrayView<float>, MatMulShape>(
                QuantKernels.MatMul<TFormat>));
        long warps = (long)shape.Rows * ((shape.OutDim + QuantKernels.RowsPerWarp - 1) / QuantKernels.RowsPerWarp);
        matmul(Groups((warps + GroupSize / 32 - 1) / (GroupSize / 32)), w.Scales, w.Quants, xScales, xQuants, bias, y, shape);
    }

    /// <inheritdoc />
    public void Rope(DeviceBuffer x, DeviceBuffer cosSin, int rows, int heads, int headDim, int rotaryDim, RopePairing pairing)
    {
        if (rotaryDim % 2 != 0 || rotaryDim > headDim || rotaryDim <= 0)
            throw new ArgumentOutOfRangeException(nameof(rotaryDim), $"rotary dim {rotaryDim} must be even and in (0, {headDim}]");
        var xs = Slice(x, 0, (long)rows * heads * headDim);
        var table = Slice(cosSin, 0, (long)rows * rotaryDim);
        var config = Elementwise((long)rows * heads * (rotaryDim / 2));
        if (pairing == RopePairing.HalfSplit)
            Kernel("rope/half-split", static a =>
                a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int, int, int>(RopeKernels.Rotate<HalfSplitPairing>))(
                config, xs, table, rows, heads, headDim, rotaryDim);
        else
            Kernel("rope/interleaved", static a =>
                a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int, int, int>(RopeKernels.Rotate<InterleavedPairing>))(
                config, xs, table, rows, heads, headDim, rotaryDim);
    }

    /// <summary>
    /// Which attention kernel <see cref="Attention"/> launches; <see cref="AttentionKernelChoice.Auto"/> (the
    /// default) follows <see cref="UsesTiledAttention"/>. The others force one kernel, for tests and benchmarks.
    /// </summary>
    public AttentionKernelChoice AttentionKernel { get; set; }

    /// <summary>
    /// The default dispatch: <see cref="AttentionKernels.AttendTiled"/> for prefill (QueryCount &gt; 1) with
    /// HeadDim &lt;= <see cref="AttentionKernels.TiledMaxHeadDim"/>, where its 16-row tiles reuse each K/V tile for
    /// 16 queries; <see cref="AttentionKernels.Attend"/> for decode (one row: a tile would be 15/16 idle, and the
    /// per-row kernel spreads the keys over all four warps) and for head dims up to
    /// <see cref="AttentionKernels.MaxHeadDim"/> (the tiled kernel's accumulators are four dims per lane).
    /// </summary>
    public static bool UsesTiledAttention(AttentionShape shape) => shape.QueryCount > 1 && shape.HeadDim <= AttentionKernels.TiledMaxHeadDim;

    /// <inheritdoc />
    public void Attention(AttentionBuffers buffers, AttentionShape shape)
    {
        shape.Validate();
        if (shape.HeadDim > AttentionKernels.MaxHeadDim)
            throw new NotSupportedException($"head dim {shape.HeadDim} is larger than the attention kernel's {AttentionKernels.MaxHeadDim}");
        long rowLength = (long)shape.Heads * shape.HeadDim, kvDim = (long)shape.KvHeads * shape.HeadDim;
        long rows = shape.QueryCount * rowLength;
        ArrayView<float> Optional(DeviceBuffer? buffer, long count) => buffer is null || count == 0 ? _noBias.View : Slice(buffer, 0, count);
        bool tiled = AttentionKernel switch
        {
            AttentionKernelChoice.PerRow => false,
            AttentionKernelChoice.Tiled => shape.HeadDim <= AttentionKernels.TiledMaxHeadDim,
            _ => UsesTiledAttention(shape),
        };
        var kernel = tiled
            ? Kernel("attention-tiled", static a =>
                a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                    ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionShape, int>(AttentionKernels.AttendTiled))
            : Kernel("attention", static a =>
                a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                    ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionShape, int>(AttentionKernels.Attend));
        long jobs = tiled
            ? (long)((shape.QueryCount + AttentionKernels.TileRows - 1) / AttentionKernels.TileRows) * shape.Heads
            : (long)shape.QueryCount * shape.Heads;
        kernel(Groups(jobs),
            Slice(buffers.Query, 0, rows), Slice(buffers.LocalKeys, 0, shape.LocalCount * kvDim), Slice(buffers.LocalValues, 0, shape.LocalCount * kvDim),
            Slice(buffers.Output, 0, rows),
            Optional(shape.FarCount > 0 ? buffers.FarQuery : null, rows), Optional(buffers.FarKeys, shape.FarCount * kvDim), Optional(buffers.FarValues, shape.FarCount * kvDim),
            Optional(buffers.ExtraLogits, (long)shape.Heads * shape.ExtraCount), Optional(buffers.ExtraValues, rowLength * shape.ExtraCount),
            Optional(buffers.AlibiSlopes, shape.Heads), shape, buffers.AlibiSlopes is null ? 0 : 1);
    }

    /// <inheritdoc />
    public void SelectTopK(DeviceBuffer query, DeviceBuffer farKeys, DeviceBuffer farValues, TopKShape shape, DeviceBuffer logits, DeviceBuffer values)
    {
        if (shape.K <= 0 || shape.K > TopKShape.MaxK) throw new ArgumentOutOfRangeException(nameof(shape), $"top-k {shape.K} must lie in [1, {TopKShape.MaxK}]");
        if (shape.End - shape.Begin < shape.K) throw new ArgumentException($"top-k needs {shape.K} middle tokens, the range [{shape.Begin}, {shape.End}) has {shape.End - shape.Begin}");
        long kvDim = (long)shape.KvHeads * shape.HeadDim;
        var kernel = Kernel("top-k", static a =>
            a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, TopKShape, ArrayView<float>, ArrayView<float>>(AttentionKernels.SelectTopK));
        kernel(Groups(shape.Heads), Slice(query, 0, (long)shape.Heads * shape.HeadDim), Slice(farKeys, 0, shape.End * kvDim), Slice(farValues, 0, shape.End * kvDim),
            shape, Slice(logits, 0, (long)shape.Heads * shape.K), Slice(values, 0, (long)shape.Heads * shape.K * shape.HeadDim));
    }

    /// <inheritdoc />
    public void LayerNorm(DeviceBuffer x, DeviceWeight weight, DeviceWeight? bias, DeviceBuffer destination, int rows, int dim, float eps)
    {
        var kernel = Kernel("layernorm", static a =>
            a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float, int>(NormKernels.LayerNorm));
        kernel(Groups(rows), Slice(x, 0, (long)rows * dim), Vector(weight, dim), bias is null ? _noBias.View : Vector(bias, dim),
            Slice(destination, 0, (long)rows * dim), rows, dim, eps, bias is null ? 0 : 1);
    }

    /// <inheritdoc />
    public void Gelu(DeviceBuffer x, DeviceBuffer destination, long count, GeluApproximation approximation)
    {
        var kernel = Kernel("gelu", static a =>
            a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int>(ElementwiseKernels.Gelu));
        kernel(Elementwise(count), Slice(x, 0, count), Slice(destination, 0, count), checked((int)count), approximation == GeluApproximation.Tanh ? 1 : 0);
    }

    /// <inheritdoc />
    public void SiluMul(DeviceBuffer gate, DeviceBuffer up, DeviceBuffer destination, long count)
    {
        var kernel = Kernel("silu-mul", static a =>
            a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(ElementwiseKernels.SiluMul));
        kernel(Elementwise(count), Slice(gate, 0, count), Slice(up, 0, count), Slice(destination, 0, count), checked((int)count));
    }

    /// <inheritdoc />
    public void Add(DeviceBuffer a, DeviceBuffer b, DeviceBuffer destination, long count)
    {
        var kernel = Kernel("add", static acc =>
            acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(ElementwiseKernels.Add));
        kernel(Elementwise(count), Slice(a, 0, count), Slice(b, 0, count), Slice(destination, 0, count), checked((int)count));
    }

    /// <inheritdoc />
    public void LogSoftmax(DeviceBuffer x, DeviceBuffer destination, int rows, int cols)
    {
        var kernel = Kernel("log-softmax", static a =>
            a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int>(SoftmaxKernels.LogSoftmax));
        kernel(Groups(rows), Slice(x, 0, (long)rows * cols), Slice(destination, 0, (long)rows * cols), rows, cols);
    }

    /// <inheritdoc />
    /// <remarks>One group of up to 128 threads runs the whole solve (<see cref="ClexKernels.Integrate"/>); m is at most 128 and λd at most 512.</remarks>
    public void ClexIntegrate(DeviceBuffer z0, DeviceBuffer upProj, DeviceBuffer downProj, DeviceBuffer grid, DeviceBuffer timeTerms,
        DeviceBuffer outputTimes, DeviceBuffer result, ClexShape shape)
    {
        ClexOde.CheckLengths(z0.Length, upProj.Length, downProj.Length, grid.Length, timeTerms.Length, outputTimes.Length, result.Length, shape);
        if (shape.Pairs > ClexKernels.MaxPairs || shape.Hidden > ClexKernels.MaxHidden)
            throw new NotSupportedException(
                $"the CLEX ODE kernel takes up to {ClexKernels.MaxPairs} pairs and an MLP width up to {ClexKernels.MaxHidden}; this model has {shape.Pairs} and {shape.Hidden}");
        int m = shape.Pairs, h = shape.Hidden;
        var kernel = Kernel("clex-integrate", static a =>
            a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                ArrayView<float>, ClexShape>(ClexKernels.Integrate));
        // As many threads as there are pairs or hidden units (whole warps, at most one 128-thread group): small
        // models (the toy tests) then meet at 32-thread barriers, which on ILGPU's CPU accelerator cost a quarter.
        int threads = Math.Clamp((Math.Max(m, h) + 31) / 32 * 32, 32, GroupSize);
        kernel(new KernelConfig(1, threads), Slice(z0, 0, m), Slice(upProj, 0, (long)m * h), Slice(downProj, 0, (long)h * m),
            Slice(grid, 0, shape.GridLength), Slice(timeTerms, 0, (long)shape.TimePoints * 2 * m), Slice(outputTimes, 0, shape.TimeCount),
            Slice(result, 0, (long)shape.TimeCount * m), shape);
    }

    /// <summary>
    /// Index of the first maximum of <paramref name="logits"/>[0, count) (greedy decoding without downloading the
    /// row). NaN entries are ignored; -1 when there is no non-NaN entry.
    /// </summary>
    public int ArgMax(DeviceBuffer logits, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        var kernel = Kernel("argmax", static a =>
            a.LoadStreamKernel<ArrayView<float>, ArrayView<int>, int>(SoftmaxKernels.ArgMax));
        kernel(new KernelConfig(1, GroupSize), Slice(logits, 0, count), _argMaxResult.View, count);
        Span<int> result = stackalloc int[1];
        ((ArrayView<int>)_argMaxResult.View).CopyToCPU(result);
        return result[0] < count ? result[0] : -1;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _ids.Dispose();
        _scales.Dispose();
        _xScales.Dispose();
        _xQuants.Dispose();
        _noBias.Dispose();
        _argMaxResult.Dispose();
        if (_ownedContext is not null)
        {
            _accelerator.Dispose();
            _ownedContext.Dispose();
        }
    }

    /// <summary>Grows a staging buffer to at least <paramref name="length"/> elements (doubling, so a growing input reallocates rarely); never shrinks it.</summary>
    private void EnsureLength<T>(ref MemoryBuffer1D<T, Stride1D.Dense> buffer, long length) where T : unmanaged
    {
        if (buffer.Length >= length) return;
        long grown = Math.Max(length, 2 * buffer.Length);
        buffer.Dispose();
        buffer = _accelerator.Allocate1D<T>(grown);
    }

    /// <summary>One group per work item (row, tile, head), capped at one wave.</summary>
    private KernelConfig Groups(long items) => new((int)Math.Clamp(items, 1, _waveGroups), GroupSize);

    /// <summary>One thread per element, capped at one wave.</summary>
    private KernelConfig Elementwise(long elements) => Groups((elements + GroupSize - 1) / GroupSize);

    private T Kernel<T>(string key, Func<Accelerator, T> load) where T : class
    {
        if (!_kernels.TryGetValue(key, out var kernel)) _kernels[key] = kernel = load(_accelerator);
        return (T)kernel;
    }

    private static ArrayView<float> Slice(DeviceBuffer buffer, long offset, long count)
    {
        var b = buffer as IlgpuBuffer ?? throw new ArgumentException($"buffer belongs to another backend ({buffer.GetType().Name})", nameof(buffer));
        if (offset < 0 || count < 0 || offset + count > b.Length)
            throw new ArgumentOutOfRangeException(nameof(count), $"[{offset}, {offset + count}) is outside a buffer of {b.Length} floats");
        return ((ArrayView<float>)b.Memory.View).SubView(offset, count);
    }

    private static IlgpuWeight Weight(DeviceWeight weight) =>
        weight as IlgpuWeight ?? throw new ArgumentException($"weight '{weight.Name}' belongs to another backend", nameof(weight));

    private static ArrayView<float> Vector(DeviceWeight weight, int length)
    {
        var w = Weight(weight);
        if (w.Storage != DType.F32 || w.Rows != 1 || w.Cols != length)
            throw new ArgumentException($"weight '{w.Name}' is [{w.Rows}, {w.Cols}]; expected a vector of {length}", nameof(weight));
        return w.Floats;
    }
}

/// <summary>Which kernel <see cref="IlgpuBackend.Attention"/> launches.</summary>
public enum AttentionKernelChoice
{
    /// <summary><see cref="IlgpuBackend.UsesTiledAttention"/> decides (tiled for prefill, per-row for decode).</summary>
    Auto,
    /// <summary>Always <see cref="AttentionKernels.Attend"/>, one group per (query row, head).</summary>
    PerRow,
    /// <summary><see cref="AttentionKernels.AttendTiled"/> whenever the head dim allows it, one row or more.</summary>
    Tiled,
}
