using LongLM.Kernels;
using LongLM.Runtime;
using LongLM.Runtime.Config;

namespace LongLM.Models;

/// <summary>
/// Activation buffers of a decoder forward (RunState in llama2.c), sized for the largest call so far, and the
/// steps every family shares around its layers: the id check and the output head.
/// </summary>
public sealed class DecoderWorkspace(IBackend backend, ModelConfig c, bool gated) : IDisposable
{
    private int _rows;

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
    /// <summary>(rows, vocab).</summary>
    public DeviceBuffer Logits { get; private set; } = null!;

    /// <summary>Checks the ids and grows the buffers to <paramref name="ids"/>.Length rows.</summary>
    public void Prepare(ReadOnlySpan<int> ids)
    {
        if (ids.IsEmpty) throw new ArgumentException("no tokens to run", nameof(ids));
        foreach (int id in ids)
            if ((uint)id >= (uint)c.VocabSize) throw new LongLMException($"token id {id} is outside the vocabulary [0, {c.VocabSize})");
        int rows = ids.Length;
        if (rows <= _rows) return;
        Dispose();
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
        Logits = backend.Allocate(rows * (long)c.VocabSize);
    }

    /// <summary>
    /// The output head: only the rows asked for go through the final norm (<paramref name="finalNorm"/>: X to Xb
    /// over the given rows) and the (large) lm_head; logits are downloaded as float32.
    /// </summary>
    public void Head(int rows, bool allRows, Action<int> finalNorm, DeviceWeight lmHead, Span<float> logits)
    {
        int outRows = allRows ? rows : 1;
        if (!allRows && rows > 1) backend.Copy(X, (long)(rows - 1) * c.HiddenSize, X, 0, c.HiddenSize);
        finalNorm(outRows);
        backend.MatMul(Xb, lmHead, null, Logits, outRows);
        backend.Download(Logits, logits[..(outRows * c.VocabSize)]);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var buffer in new[] { X, Xb, Q, K, V, Attn, Gate, Up, Logits }) buffer?.Dispose();
    }
}
