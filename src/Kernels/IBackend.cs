namespace LongLM.Kernels;

/// <summary>How the two halves of a rotary pair are laid out in a head vector.</summary>
public enum RopePairing
{
    /// <summary>Pair k is (x[k], x[k + d/2]): HF Llama, Mistral, Qwen2, GPT-NeoX, Phi.</summary>
    HalfSplit,
    /// <summary>Pair k is (x[2k], x[2k+1]): GPT-J.</summary>
    Interleaved,
}

/// <summary>
/// The compute layer. Activations are float32 buffers; weights may stay F16/BF16. Every op has a scalar
/// reference in <c>LongLM.Kernels.Ops</c> that parity tests compare against.
/// </summary>
public interface IBackend : IDisposable
{
    /// <summary>"cpu", "cuda", "ilgpu-cpu".</summary>
    string Name { get; }

    /// <summary>A zeroed float32 buffer.</summary>
    DeviceBuffer Allocate(long length);

    /// <summary>Copies host data into <paramref name="destination"/> starting at element <paramref name="offset"/>.</summary>
    void Upload(ReadOnlySpan<float> source, DeviceBuffer destination, long offset = 0);

    /// <summary>Copies <paramref name="destination"/>.Length elements from <paramref name="source"/> starting at <paramref name="offset"/>.</summary>
    void Download(DeviceBuffer source, Span<float> destination, long offset = 0);

    /// <summary>Copies <paramref name="count"/> elements between buffers.</summary>
    void Copy(DeviceBuffer source, long sourceOffset, DeviceBuffer destination, long destinationOffset, long count);

    /// <summary>Makes a weight usable by this backend.</summary>
    DeviceWeight LoadWeight(WeightView view);

    /// <summary>dst[r, :] = table[ids[r], :].</summary>
    void Embedding(DeviceWeight table, ReadOnlySpan<int> ids, DeviceBuffer destination);

    /// <summary>dst[r, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * weight (weight in (1 + w) form when <paramref name="addUnitOffset"/>).</summary>
    void RmsNorm(DeviceBuffer x, DeviceWeight weight, DeviceBuffer destination, int rows, int dim, float eps, bool addUnitOffset = false);

    /// <summary>dst[r, :] = (x[r, :] - mean) / sqrt(var + eps) * weight (+ bias): torch LayerNorm.</summary>
    void LayerNorm(DeviceBuffer x, DeviceWeight weight, DeviceWeight? bias, DeviceBuffer destination, int rows, int dim, float eps);

    /// <summary>dst = gelu(x), elementwise; dst may alias x.</summary>
    void Gelu(DeviceBuffer x, DeviceBuffer destination, long count, Ops.GeluApproximation approximation);

    /// <summary>y[r, o] = sum_i x[r, i] * w[o, i] (+ bias[o]); w is the HF/nn.Linear [out, in] layout.</summary>
    void MatMul(DeviceBuffer x, DeviceWeight weight, DeviceWeight? bias, DeviceBuffer y, int rows);

    /// <summary>
    /// Rotates the first <paramref name="rotaryDim"/> dims of every head of x [rows, heads, headDim] in place.
    /// <paramref name="cosSin"/> is [rows, rotaryDim/2, 2] (cos, sin) per row, computed by the caller in double precision.
    /// </summary>
    void Rope(DeviceBuffer x, DeviceBuffer cosSin, int rows, int heads, int headDim, int rotaryDim, RopePairing pairing);

    /// <summary>
    /// GQA attention of a block of queries over local (rotated) keys, optional far keys (LM-Infinite's starting
    /// tokens or the ceiling-only ablation) and optional extra top-k entries; see <see cref="AttentionShape"/> for
    /// which keys each query sees and with which logit.
    /// </summary>
    void Attention(AttentionBuffers buffers, AttentionShape shape);

    /// <summary>
    /// LM-Infinite top-k middle tokens (algorithms.md 2.5), per query head h: scores
    /// scale * query[h] . farKeys[j, h/group] for far slots j in [begin, end), the k largest (ties to the lower j)
    /// written as logits [heads, k] and their values [heads, k, headDim].
    /// </summary>
    void SelectTopK(DeviceBuffer query, DeviceBuffer farKeys, DeviceBuffer farValues, TopKShape shape, DeviceBuffer logits, DeviceBuffer values);

    /// <summary>dst = silu(gate) * up, elementwise (SwiGLU).</summary>
    void SiluMul(DeviceBuffer gate, DeviceBuffer up, DeviceBuffer destination, long count);

    /// <summary>dst = a + b, elementwise (residual add); dst may alias a.</summary>
    void Add(DeviceBuffer a, DeviceBuffer b, DeviceBuffer destination, long count);

    /// <summary>Row-wise log-softmax of x [rows, cols] into dst.</summary>
    void LogSoftmax(DeviceBuffer x, DeviceBuffer destination, int rows, int cols);
}
