/** Elementwise activations (tanh, sigmoid) and their backward passes, on flat Float32Arrays. */
export interface ActivationOp {
  /** y = tanh(x), new array. */
  tanh(x: Float32Array): Float32Array;
  /** dx = dy * (1 - y^2) given y = tanh(x). @throws ShapeError if dy.length !== y.length. */
  tanhBackward(y: Float32Array, dy: Float32Array): Float32Array;
  /** y = sigmoid(x), new array. */
  sigmoid(x: Float32Array): Float32Array;
  /** dx = dy * y * (1 - y) given y = sigmoid(x). @throws ShapeError if dy.length !== y.length. */
  sigmoidBackward(y: Float32Array, dy: Float32Array): Float32Array;
  /** In place: x <- tanh(x); returns x. */
  tanhInPlace(x: Float32Array): Float32Array;
}
