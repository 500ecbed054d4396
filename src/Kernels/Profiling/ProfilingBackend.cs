using System.Diagnostics;

namespace LongLM.Kernels.Profiling;

/// <summary>What a backend call is, for the per-op profile (`longlm bench --profile`).</summary>
public enum OpKind
{
    /// <summary>MatMul on q/k/v/o (and fused qkv / dense) projections.</summary>
    MatMulAttention,
    /// <summary>MatMul on the MLP (gate/up/down, fc, experts).</summary>
    MatMulMlp,
    /// <summary>MatMul on the output head (lm_head, or the tied embedding table).</summary>
    MatMulHead,
    /// <summary>Attention over the cache (every policy).</summary>
    Attention,
    /// <summary>LM-Infinite's top-k middle-token selection.</summary>
    SelectTopK,
    /// <summary>RmsNorm and LayerNorm.</summary>
    Norm,
    /// <summary>Rotary embedding.</summary>
    Rope,
    /// <summary>SiluMul and Gelu.</summary>
    Activation,
    /// <summary>Residual adds.</summary>
    Add,
    /// <summary>Embedding lookup.</summary>
    Embedding,
    /// <summary>LogSoftmax.</summary>
    LogSoftmax,
    /// <summary>Upload, Download and Copy (KV-cache writes included).</summary>
    Copy,
    /// <summary>MoE row gather and scatter-add.</summary>
    MoeRouting,
    /// <summary>CLEX's ODE solve.</summary>
    ClexOde,
}

/// <summary>
/// Totals per <see cref="OpKind"/> while <see cref="Enabled"/>: calls and stopwatch ticks. One profile belongs to
/// one calling thread at a time (the bench loop); it allocates nothing per call.
/// </summary>
public sealed class OpProfile
{
    private readonly long[] _calls = new long[Enum.GetValues<OpKind>().Length];
    private readonly long[] _ticks = new long[Enum.GetValues<OpKind>().Length];
    private long _regionsAtStart;

    /// <summary>Whether calls are being counted (off during warm-up and untimed prefills).</summary>
    public bool Enabled { get; private set; }

    /// <summary>Clears the totals and starts counting.</summary>
    public void Start()
    {
        Array.Clear(_calls);
        Array.Clear(_ticks);
        _regionsAtStart = Cpu.CpuParallel.t_parallelRegions;
        Enabled = true;
    }

    /// <summary>Stops counting and returns the totals, with the parallel regions this thread opened meanwhile.</summary>
    public OpTotals Stop()
    {
        Enabled = false;
        var totals = new Dictionary<OpKind, (long Calls, double Seconds)>();
        foreach (OpKind kind in Enum.GetValues<OpKind>())
            if (_calls[(int)kind] > 0) totals[kind] = (_calls[(int)kind], _ticks[(int)kind] / (double)Stopwatch.Frequency);
        return new OpTotals(totals, Cpu.CpuParallel.t_parallelRegions - _regionsAtStart);
    }

    internal void Add(OpKind kind, long startTicks)
    {
        _calls[(int)kind]++;
        _ticks[(int)kind] += Stopwatch.GetTimestamp() - startTicks;
    }
}

/// <summary>A profile's totals: per op kind the calls and seconds; the cpu backend's parallel regions (thread wake-ups).</summary>
public sealed record OpTotals(IReadOnlyDictionary<OpKind, (long Calls, double Seconds)> ByKind, long ParallelRegions);

/// <summary>
/// An <see cref="IBackend"/> that forwards every call to <paramref name="inner"/> and, while its
/// <see cref="Profile"/> is enabled, times each one. The cpu backend's ops finish before they return, so a call's
/// wall time is the op's cost, its thread wake-ups included; GPU backends queue work asynchronously, so
/// `longlm bench --profile` accepts the cpu backend only. Results are the inner backend's, bit for bit.
/// </summary>
public sealed class ProfilingBackend(IBackend inner) : IBackend
{
    /// <summary>The wrapped backend.</summary>
    public IBackend Inner { get; } = inner;

    /// <summary>The totals being collected.</summary>
    public OpProfile Profile { get; } = new();

    /// <summary>
    /// Mean seconds of an empty parallel call on the cpu backend's workers (the fixed cost of a thread wake-up and
    /// the wait for it), measured over <paramref name="samples"/> calls; 0 for other backends.
    /// </summary>
    public double MeasureEmptyParallelRegionSeconds(int samples = 2000) =>
        Inner is Cpu.CpuBackend cpu && cpu.Threads > 1 ? Cpu.CpuParallel.EmptyRegionSeconds(cpu.Threads, samples) : 0;

    /// <summary>The op kind of a MatMul on <paramref name="weight"/>, from its HF name.</summary>
    public static OpKind MatMulKind(DeviceWeight weight)
    {
        string name = weight.Name;
        // "embed" covers embed_tokens (a tied head) and GPT-NeoX's embed_out.
        if (name.EndsWith("lm_head.weight", StringComparison.Ordinal) || Contains(name, "embed") || name.EndsWith("wte.weight", StringComparison.Ordinal))
            return OpKind.MatMulHead;
        if (Contains(name, "attn") || Contains(name, "attention") || Contains(name, "q_proj") || Contains(name, "k_proj")
            || Contains(name, "v_proj") || Contains(name, "o_proj") || Contains(name, "query_key_value") || Contains(name, "Wqkv"))
            return OpKind.MatMulAttention;
        return OpKind.MatMulMlp;
    }

    private static bool Contains(string s, string part) => s.Contains(part, StringComparison.Ordinal);

    private long Begin() => Profile.Enabled ? Stopwatch.GetTimestamp() : 0;

    private void End(OpKind kind, long start)
    {
        if (start != 0) Profile.Add(kind, start);
    }

    /// <inheritdoc />
    public string Name => Inner.Name;
    /// <inheritdoc />
    public bool SupportsConcurrentCalls => Inner.SupportsConcurrentCalls;
    /// <inheritdoc />
    public bool SupportsQuantizedWeights => Inner.SupportsQuantizedWeights;
    /// <inheritdoc />
    public bool CopiesWeights => Inner.CopiesWeights;
    /// <inheritdoc />
    public DeviceBuffer Allocate(long length) => Inner.Allocate(length);
    /// <inheritdoc />
    public DeviceWeight LoadWeight(WeightView view) => Inner.LoadWeight(view);

    /// <inheritdoc />
    public void Upload(ReadOnlySpan<float> source, DeviceBuffer destination, long offset = 0)
    {
        long t = Begin(); Inner.Upload(source, destination, offset); End(OpKind.Copy, t);
    }

    /// <inheritdoc />
    public void Download(DeviceBuffer source, Span<float> destination, long offset = 0)
    {
        long t = Begin(); Inner.Download(source, destination, offset); End(OpKind.Copy, t);
    }

    /// <inheritdoc />
    public void Copy(DeviceBuffer source, long sourceOffset, DeviceBuffer destination, long destinationOffset, long count)
    {
        long t = Begin(); Inner.Copy(source, sourceOffset, destination, destinationOffset, count); End(OpKind.Copy, t);
    }

    /// <inheritdoc />
    public void Embedding(DeviceWeight table, ReadOnlySpan<int> ids, DeviceBuffer destination)
    {
        long t = Begin(); Inner.Embedding(table, ids, destination); End(OpKind.Embedding, t);
    }

    /// <inheritdoc />
    public void RmsNorm(DeviceBuffer x, DeviceWeight weight, DeviceBuffer destination, int rows, int dim, float eps, bool addUnitOffset = false)
    {
        long t = Begin(); Inner.RmsNorm(x, weight, destination, rows, dim, eps, addUnitOffset); End(OpKind.Norm, t);
    }

    /// <inheritdoc />
    public void LayerNorm(DeviceBuffer x, DeviceWeight weight, DeviceWeight? bias, DeviceBuffer destination, int rows, int dim, float eps)
    {
        long t = Begin(); Inner.LayerNorm(x, weight, bias, destination, rows, dim, eps); End(OpKind.Norm, t);
    }

    /// <inheritdoc />
    public void Gelu(DeviceBuffer x, DeviceBuffer destination, long count, Ops.GeluApproximation approximation)
    {
        long t = Begin(); Inner.Gelu(x, destination, count, approximation); End(OpKind.Activation, t);
    }

    /// <inheritdoc />
    public void MatMul(DeviceBuffer x, DeviceWeight weight, DeviceWeight? bias, DeviceBuffer y, int rows)
    {
        long t = Begin(); Inner.MatMul(x, weight, bias, y, rows);
        if (t != 0) End(MatMulKind(weight), t);
    }

    /// <inheritdoc />
    public void MatMul3(DeviceBuffer x, in Projection first, in Projection second, in Projection third, int rows)
    {
        long t = Begin(); Inner.MatMul3(x, first, second, third, rows);
        if (t != 0) End(MatMulKind(first.Weight), t);
    }

    /// <inheritdoc />
    /// <remarks>Timed as the MLP's matmuls, the fused silu(gate) * up included.</remarks>
    public void GatedMatMul(DeviceBuffer x, in Projection gate, in Projection up, int rows)
    {
        long t = Begin(); Inner.GatedMatMul(x, gate, up, rows);
        if (t != 0) End(MatMulKind(gate.Weight), t);
    }

    /// <inheritdoc />
    public void Rope(DeviceBuffer x, DeviceBuffer cosSin, int rows, int heads, int headDim, int rotaryDim, RopePairing pairing)
    {
        long t = Begin(); Inner.Rope(x, cosSin, rows, heads, headDim, rotaryDim, pairing); End(OpKind.Rope, t);
    }

    /// <inheritdoc />
    public void Attention(AttentionBuffers buffers, AttentionShape shape)
    {
        long t = Begin(); Inner.Attention(buffers, shape); End(OpKind.Attention, t);
    }

    /// <inheritdoc />
    public void SelectTopK(DeviceBuffer query, DeviceBuffer farKeys, DeviceBuffer farValues, TopKShape shape, DeviceBuffer logits, DeviceBuffer values)
    {
        long t = Begin(); Inner.SelectTopK(query, farKeys, farValues, shape, logits, values); End(OpKind.SelectTopK, t);
    }

    /// <inheritdoc />
    public void GatherRows(DeviceBuffer x, ReadOnlySpan<int> rows, DeviceBuffer destination, int dim)
    {
        long t = Begin(); Inner.GatherRows(x, rows, destination, dim); End(OpKind.MoeRouting, t);
    }

    /// <inheritdoc />
    public void ScatterAddRows(DeviceBuffer source, ReadOnlySpan<int> rows, ReadOnlySpan<float> scales, DeviceBuffer destination, int dim)
    {
        long t = Begin(); Inner.ScatterAddRows(source, rows, scales, destination, dim); End(OpKind.MoeRouting, t);
    }

    /// <inheritdoc />
    public void SiluMul(DeviceBuffer gate, DeviceBuffer up, DeviceBuffer destination, long count)
    {
        long t = Begin(); Inner.SiluMul(gate, up, destination, count); End(OpKind.Activation, t);
    }

    /// <inheritdoc />
    public void Add(DeviceBuffer a, DeviceBuffer b, DeviceBuffer destination, long count)
    {
        long t = Begin(); Inner.Add(a, b, destination, count); End(OpKind.Add, t);
    }

    /// <inheritdoc />
    public void LogSoftmax(DeviceBuffer x, DeviceBuffer destination, int rows, int cols)
    {
        long t = Begin(); Inner.LogSoftmax(x, destination, rows, cols); End(OpKind.LogSoftmax, t);
    }

    /// <inheritdoc />
    public void ClexIntegrate(DeviceBuffer z0, DeviceBuffer upProj, DeviceBuffer downProj, DeviceBuffer grid, DeviceBuffer timeTerms,
        DeviceBuffer outputTimes, DeviceBuffer result, ClexShape shape)
    {
        long t = Begin(); Inner.ClexIntegrate(z0, upProj, downProj, grid, timeTerms, outputTimes, result, shape); End(OpKind.ClexOde, t);
    }

    /// <summary>Disposes the wrapped backend.</summary>
    public void Dispose() => Inner.Dispose();
}
