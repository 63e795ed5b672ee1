/** Extra sections of `aura bench-speed` for the onnx work: markdown lines to print. */
export async function speedOnnxSections(_o: { quick?: boolean }): Promise<string[]> {
  return [];
}
