using LongLM.Kernels;
using LongLM.Kernels.Ops;
using LongLM.Runtime.Attention;
using LongLM.Runtime.Inference;

namespace LongLM.Models;

/// <summary>
/// The weights of a GPT-style pre-LayerNorm decoder layer (MPT, BLOOM, GPT-NeoX, GPT-J, Phi), whatever the family
/// calls them: each family's record maps its HF-named tensors onto these roles. A parallel block with one LayerNorm
/// (GPT-J, Phi) gives the same pair as <see cref="AttentionNorm"/> and <see cref="MlpNorm"/>.
/// </summary>
public interface ILayerNormGeluLayer
{
    /// <summary>LayerNorm before attention (weight, optional bias): (hidden).</summary>
    (DeviceWeight Weight, DeviceWeight? Bias) AttentionNorm { get; }
    /// <summary>q, k, v projections (hidden, hidden) with optional biases, split from the fused HF tensor.</summary>
    (DeviceWeight Wq, DeviceWeight? Bq, DeviceWeight Wk, DeviceWeight? Bk, DeviceWeight Wv, DeviceWeight? Bv) Qkv { get; }
    /// <summary>Attention output projection (hidden, hidden).</summary>
    (DeviceWeight Weight, DeviceWeight? Bias) AttentionOut { get; }
    /// <summary>LayerNorm before the MLP: (hidden).</summary>
    (DeviceWeight Weight, DeviceWeight? Bias) MlpNorm { get; }
    /// <summary>MLP up projection (intermediate, hidden).</summary>
    (DeviceWeight Weight, DeviceWeight? Bias) Up { get; }
    /// <summary>MLP down projection (hidden, intermediate).</summary>
    (DeviceWeight Weight, DeviceWeight? Bias) Down { get; }
}

/// <summary>
/// One pre-LayerNorm decoder layer, sequential (x += attn(LN(x)); x += down(gelu(up(LN(x))))) or parallel
/// (x = x + attn(LN_a(x)) + down(gelu(up(LN_m(x))))).
/// </summary>
public static class LayerNormGeluBlock
{
    /// <summary>Runs layer <paramref name="layer"/> over the workspace's residual stream X (rows tokens).</summary>
    public static void Run(IBackend b, SequenceState sequence, AttentionBlock attention, int layer, ILayerNormGeluLayer w,
        int rows, int hidden, int intermediate, float eps, GeluApproximation gelu)
    {
        var ws = sequence.Workspace;
        b.LayerNorm(ws.X, w.AttentionNorm.Weight, w.AttentionNorm.Bias, ws.Xb, rows, hidden, eps);
        AttendInto(b, sequence, attention, layer, w, rows);
        b.Add(ws.X, ws.Xb, ws.X, (long)rows * hidden);

        b.LayerNorm(ws.X, w.MlpNorm.Weight, w.MlpNorm.Bias, ws.Xb, rows, hidden, eps);
        b.MatMul(ws.Xb, w.Up.Weight, w.Up.Bias, ws.Up, rows);
        b.Gelu(ws.Up, ws.Up, (long)rows * intermediate, gelu);
        b.MatMul(ws.Up, w.Down.Weight, w.Down.Bias, ws.Xb, rows);
        b.Add(ws.X, ws.Xb, ws.X, (long)rows * hidden);
    }

    /// <summary>
    /// The parallel residual (GPT-J, Phi, GPT-NeoX's use_parallel_residual): both branches read the same x. The MLP's
    /// hidden goes first into Up (attention leaves it alone) while Xb holds LN_m(x); then attention reads LN_a(x)
    /// (the same Xb when the block has one LayerNorm) and Xb carries each branch's output into X in turn, so no
    /// buffer is added. HF adds attn + mlp + x; the two adds here, attention's first, differ from it only by rounding.
    /// </summary>
    public static void RunParallel(IBackend b, SequenceState sequence, AttentionBlock attention, int layer, ILayerNormGeluLayer w,
        int rows, int hidden, int intermediate, float eps, GeluApproximation gelu)
    {
        var ws = sequence.Workspace;
        long count = (long)rows * hidden;
        b.LayerNorm(ws.X, w.MlpNorm.Weight, w.MlpNorm.Bias, ws.Xb, rows, hidden, eps);
        b.MatMul(ws.Xb, w.Up.Weight, w.Up.Bias, ws.Up, rows);
        b.Gelu(ws.Up, ws.Up, (long)rows * intermediate, gelu);
        if (!ReferenceEquals(w.AttentionNorm.Weight, w.MlpNorm.Weight))
            b.LayerNorm(ws.X, w.AttentionNorm.Weight, w.AttentionNorm.Bias, ws.Xb, rows, hidden, eps);
        AttendInto(b, sequence, attention, layer, w, rows);
        b.Add(ws.X, ws.Xb, ws.X, count);
        b.MatMul(ws.Up, w.Down.Weight, w.Down.Bias, ws.Xb, rows);
        b.Add(ws.X, ws.Xb, ws.X, count);
    }

    /// <summary>q, k, v from the normed rows in Xb, attention, and the output projection back into Xb.</summary>
    private static void AttendInto(IBackend b, SequenceState sequence, AttentionBlock attention, int layer, ILayerNormGeluLayer w, int rows)
    {
        var ws = sequence.Workspace;
        var qkv = w.Qkv;
        b.MatMul3(ws.Xb, new Projection(qkv.Wq, qkv.Bq, ws.Q), new Projection(qkv.Wk, qkv.Bk, ws.K), new Projection(qkv.Wv, qkv.Bv, ws.V), rows);
        attention.Run(layer, sequence.Attention, sequence.Cache, ws.Q, ws.K, ws.V, ws.Attn);
        b.MatMul(ws.Attn, w.AttentionOut.Weight, w.AttentionOut.Bias, ws.Xb, rows);
    }
}
