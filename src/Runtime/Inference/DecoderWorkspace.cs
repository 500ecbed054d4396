using LongLM.Kernels;
using LongLM.Runtime.Config;

namespace LongLM.Runtime.Inference;

/// <summary>
/// Activation buffers of a decoder forward (RunState in llama2.c), one per sequence, sized for the largest chunk so far.
/// <paramref name="experts"/> &gt; 0 (a sparse mixture-of-experts MLP) adds the router logits and the routed-rows buffer.
/// </summary>
public sealed class DecoderWorkspace(IBackend backend, ModelConfig c, bool gated, int experts = 0) : IDisposable
{
    private int _rows, _logitRows;
    private bool _disposed;

    /// <summary>(rows, hidden) residual stream.</summary>
    public DeviceBuffer X { get; private set; } = null!;
    /// <summary>(rows, hidden) normed input / branch output.</summary>
    public DeviceBuffer Xb { get; private set; } = null!;
    /// <summary>(rows, heads, head_dim).</summary>
    public DeviceBuffer Q { get; private set; } = null!;
    /// <summary>(rows, kv_heads, head_dim).</summary>
    public DeviceBuffer K { get; private set; } = null!;
    /// <summary>(rows, kv_heads, head_dim).</summary>
    public DeviceBuffer V { get; private set; } = null!;
    /// <summary>(rows, heads, head_dim) attention output.</summary>
    public DeviceBuffer Attn { get; private set; } = null!;
    /// <summary>(rows, intermediate) SwiGLU gate (gated MLPs only).</summary>
    public DeviceBuffer? Gate { get; private set; }
    /// <summary>(rows, intermediate) MLP hidden.</summary>
    public DeviceBuffer Up { get; private set; } = null!;
    /// <summary>(rows, experts) router logits (mixture-of-experts MLPs only).</summary>
    public DeviceBuffer? RouterLogits { get; private set; }
    /// <summary>(rows, hidden) the rows routed to one expert, then that expert's output (mixture-of-experts MLPs only).</summary>
    public DeviceBuffer? Routed { get; private set; }
    /// <summary>(logit rows, vocab): sized by <see cref="PrepareLogits"/>, one row unless every row's logits are asked for.</summary>
    public DeviceBuffer Logits { get; private set; } = null!;

    /// <summary>Floats held on the backend (for memory reports).</summary>
    public long AllocatedFloats => (long)_rows * (2L * c.HiddenSize + 2L * c.NumAttentionHeads * c.HeadDim + 2L * c.NumKeyValueHeads * c.HeadDim
        + (gated ? 2L : 1L) * c.IntermediateSize + (experts > 0 ? experts + (long)c.HiddenSize : 0)) + (long)_logitRows * c.VocabSize;

    /// <summary>Grows the buffers to <paramref name="rows"/> rows.</summary>
    public void Prepare(int rows)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        if (rows <= _rows) return;
        if (_rows > 0) Free();
        _rows = rows;
        long q = (long)c.NumAttentionHeads * c.HeadDim, kv = (long)c.NumKeyValueHeads * c.HeadDim;
        X = backend.Allocate(rows * (long)c.HiddenSize);
        Xb = backend.Allocate(rows * (long)c.HiddenSize);
        Q = backend.Allocate(rows * q);
        K = backend.Allocate(rows * kv);
        V = backend.Allocate(rows * kv);
        Attn = backend.Allocate(rows * q);
        Gate = gated ? backend.Allocate(rows * (long)c.IntermediateSize) : null;
        Up = backend.Allocate(rows * (long)c.IntermediateSize);
        RouterLogits = experts > 0 ? backend.Allocate(rows * (long)experts) : null;
        Routed = experts > 0 ? backend.Allocate(rows * (long)c.HiddenSize) : null;
    }

    /// <summary>
    /// Grows the logits buffer to <paramref name="rows"/> rows. Kept apart from the activations: a prefill that wants
    /// only the last row's logits needs one row of vocab floats, not a chunk's (100 MB for SmolLM's 49152 at 512 rows).
    /// </summary>
    public void PrepareLogits(int rows)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        if (rows <= _logitRows) return;
        Logits?.Dispose();
        Logits = backend.Allocate(rows * (long)c.VocabSize);
        _logitRows = rows;
    }

    private void Free()
    {
        foreach (var buffer in new[] { X, Xb, Q, K, V, Attn, Gate, Up, RouterLogits, Routed }) buffer?.Dispose();
        _rows = 0;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_rows > 0) Free();
        Logits?.Dispose();
    }
}
