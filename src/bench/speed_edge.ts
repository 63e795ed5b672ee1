/** Extra sections of `aura bench-speed` for the edge work: markdown lines to print. */
export async function speedEdgeSections(_o: { quick?: boolean }): Promise<string[]> {
  return [];
}
