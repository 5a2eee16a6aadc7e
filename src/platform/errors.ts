/**
 * The platform's typed errors. {@link PlatformError} carries the HTTP status that both APIs map
 * to their own answer (the CoAP API to the code of the same class and detail).
 */
import { PlatformError } from './model.ts';

export { PlatformError };

/** A request body, query or path that does not match its schema: 400 / 4.00, naming the field. */
export class InvalidInput extends PlatformError {
  constructor(
    /** The offending field as a path (`label`, `points[2].value`), or `body` for the whole body. */
    readonly field: string,
    message: string,
  ) {
    super(400, message);
    this.name = 'InvalidInput';
  }
}
