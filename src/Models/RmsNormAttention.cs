using LongLM.Kernels;
using LongLM.Runtime.Attention;
using LongLM.Runtime.Inference;

namespace LongLM.Models;

/// <summary>
/// The attention half of a Llama-style layer (Llama, Mistral, Qwen2, Mixtral): x += o_proj(attn(q, k, v)) on
/// RMSNorm(x), with the optional q/k/v/o biases (Qwen2 has q/k/v biases; Mixtral none); RoPE and the attention
/// policy live in <see cref="AttentionBlock"/>. Leaves Xb free for the family's MLP or MoE half.
/// </summary>
public static class RmsNormAttention
{
    /// <summary>Runs layer <paramref name="layer"/>'s attention half over the workspace's residual stream X (rows tokens).</summary>
    public static void Run(IBackend b, SequenceState sequence, AttentionBlock attention, int layer, DeviceWeight inputLayernorm,
        (DeviceWeight W, DeviceWeight? B) q, (DeviceWeight W, DeviceWeight? B) k, (DeviceWeight W, DeviceWeight? B) v, (DeviceWeight W, DeviceWeight? B) o,
        int rows, int hidden, float eps)
    {
        var ws = sequence.Workspace;
        b.RmsNorm(ws.X, inputLayernorm, ws.Xb, rows, hidden, eps);
        b.MatMul3(ws.Xb, new Projection(q.W, q.B, ws.Q), new Projection(k.W, k.B, ws.K), new Projection(v.W, v.B, ws.V), rows);
        attention.Run(layer, sequence.Attention, sequence.Cache, ws.Q, ws.K, ws.V, ws.Attn);
        b.MatMul(ws.Attn, o.W, o.B, ws.Xb, rows);
        b.Add(ws.X, ws.Xb, ws.X, (long)rows * hidden);
    }
}
