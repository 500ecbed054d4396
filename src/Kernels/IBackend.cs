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

    /// <summary>
    /// Whether ops may be called from several threads at once (on different buffers). When false, callers serialise
    /// their calls by locking the backend object (models do, per chunk).
    /// </summary>
    bool SupportsConcurrentCalls { get; }

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

    /// <summary>Whether <see cref="MatMul"/> accepts q8_0/q4_0 weights (load-time quantization is refused elsewhere).</summary>
    bool SupportsQuantizedWeights => false;

    /// <summary>
    /// Whether <see cref="LoadWeight"/> copies the tensor into memory of its own, so the view's memory may be freed as
    /// soon as it returns (the ILGPU backends upload it; the cpu backend reads the view in place and keeps it).
    /// </summary>
    bool CopiesWeights => false;

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
    /// Three <see cref="MatMul"/>s of one input (q, k and v): each projection's output exactly as its own MatMul gives
    /// it. A backend may run them as one op (the cpu backend does at decode: one parallel region, one activation
    /// quantization); this default calls MatMul three times.
    /// </summary>
    void MatMul3(DeviceBuffer x, in Projection first, in Projection second, in Projection third, int rows)
    {
        MatMul(x, first.Weight, first.Bias, first.Output, rows);
        MatMul(x, second.Weight, second.Bias, second.Output, rows);
        MatMul(x, third.Weight, third.Bias, third.Output, rows);
    }

    /// <summary>
    /// SwiGLU's input half: gate = silu(x gate^T (+ gateBias)) * (x up^T (+ upBias)), exactly MatMul, MatMul and
    /// <see cref="SiluMul"/> in turn; up.Output is left holding the up projection (the backend's
    /// scratch). A backend may fuse them (the cpu backend does at decode); this default calls the three ops.
    /// </summary>
    void GatedMatMul(DeviceBuffer x, in Projection gate, in Projection up, int rows)
    {
        MatMul(x, gate.Weight, gate.Bias, gate.Output, rows);
        MatMul(x, up.Weight, up.Bias, up.Output, rows);
        SiluMul(gate.Output, up.Output, gate.Output, (long)rows * gate.Weight.Rows);
    }

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

    /// <summary>
    /// dst[r, :] = x[rows[r], :] for r &lt; rows.Length, rows of <paramref name="dim"/> floats (a mixture-of-experts
    /// layer gathers the token rows routed to one expert; <see cref="Ops.RowGather"/>).
    /// </summary>
    void GatherRows(DeviceBuffer x, ReadOnlySpan<int> rows, DeviceBuffer destination, int dim);

    /// <summary>
    /// dst[rows[r], :] += scales[r] * src[r, :] for r &lt; rows.Length (the routing-weighted expert output added back to
    /// its tokens). The row indices of one call must be distinct: rows are added in parallel, without atomics.
    /// </summary>
    void ScatterAddRows(DeviceBuffer source, ReadOnlySpan<int> rows, ReadOnlySpan<float> scales, DeviceBuffer destination, int dim);

    /// <summary>dst = silu(gate) * up, elementwise (SwiGLU).</summary>
    void SiluMul(DeviceBuffer gate, DeviceBuffer up, DeviceBuffer destination, long count);

    /// <summary>dst = a + b, elementwise (residual add); dst may alias a.</summary>
    void Add(DeviceBuffer a, DeviceBuffer b, DeviceBuffer destination, long count);

    /// <summary>Row-wise log-softmax of x [rows, cols] into dst.</summary>
    void LogSoftmax(DeviceBuffer x, DeviceBuffer destination, int rows, int cols);

    /// <summary>
    /// CLEX's ODE solve (algorithms.md 3.2-3.3; <see cref="Ops.ClexOde"/>): from z0 at grid[0], torchdiffeq's RK4 (3/8
    /// rule) over the float32 <paramref name="grid"/>, in float32, with dz/dt = act((z + ln θ^ntk(t)) · W_up) · W_down + ξ(t).
    /// Writes z at each of <paramref name="outputTimes"/> into <paramref name="result"/> [TimeCount, m] (row 0 = z0;
    /// the others linearly interpolated at the first step that reaches them, exact on a grid point).
    /// </summary>
    /// <param name="z0">[m] ln(inv_freq).</param>
    /// <param name="upProj">[m, Hidden] ode_up_proj, row-major (row vector times matrix, no transpose).</param>
    /// <param name="downProj">[Hidden, m] ode_down_proj, row-major.</param>
    /// <param name="grid">[GridLength] the float32 grid (<see cref="Ops.ClexOde.Grid"/>), from outputTimes[0] to outputTimes[^1].</param>
    /// <param name="timeTerms">[TimePoints, 2, m] ln θ^ntk and ξ at every stage time (<see cref="Ops.ClexOde.TimeTerms"/>).</param>
    /// <param name="outputTimes">[TimeCount] increasing times (the integer scales 1..max_factor for inference).</param>
    /// <param name="result">[TimeCount, m] z at the output times.</param>
    /// <param name="shape">m, Hidden, the activation and the counts.</param>
    void ClexIntegrate(DeviceBuffer z0, DeviceBuffer upProj, DeviceBuffer downProj, DeviceBuffer grid, DeviceBuffer timeTerms,
        DeviceBuffer outputTimes, DeviceBuffer result, ClexShape shape);
}

/// <summary>One projection of a fused matmul (<see cref="IBackend.MatMul3"/>, <see cref="IBackend.GatedMatMul"/>): output = x weight^T (+ bias).</summary>
public readonly record struct Projection(DeviceWeight Weight, DeviceWeight? Bias, DeviceBuffer Output);
